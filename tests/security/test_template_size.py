"""Template substitution cannot be used to build a huge string (security review): the
rendered size is checked before the text is built, and the send is refused naming the
parameters."""

from messaging.models import Message
from tests import factories


def test_a_template_that_would_render_too_large_is_refused(api, admin_key, workspace):
    channel = factories.create_channel(workspace, "sms", "sandbox", name="SMS")
    client = api.key(admin_key)
    created = client.post(
        f"/workspaces/{workspace.id}/templates",
        {"name": "boom", "content": {"sms": {"text": "{{a}}" * 20_000}}},
        format="json",
    )
    assert created.status_code == 201, created.content
    response = client.post(
        f"/workspaces/{workspace.id}/channels/{channel.id}/messages",
        {
            "receiver": {"contacts": [{"identifierKey": "phonenumber", "identifierValue": "+15551234567"}]},
            "template": {"name": "boom", "parameters": [{"type": "string", "key": "a", "value": "x" * 1000}]},
        },
        format="json",
    )
    assert response.status_code == 422, response.status_code
    assert "template.parameters" in response.json()["details"]
    assert not Message.objects.filter(workspace=workspace).exists()


def test_a_template_with_a_normal_size_still_renders(api, admin_key, workspace):
    channel = factories.create_channel(workspace, "sms", "sandbox", name="SMS")
    client = api.key(admin_key)
    client.post(f"/workspaces/{workspace.id}/templates", {"name": "hi", "content": {"sms": {"text": "Hi {{a}}"}}}, format="json")
    response = client.post(
        f"/workspaces/{workspace.id}/channels/{channel.id}/messages",
        {
            "receiver": {"contacts": [{"identifierKey": "phonenumber", "identifierValue": "+15551234567"}]},
            "template": {"name": "hi", "parameters": [{"type": "string", "key": "a", "value": "Ann"}]},
        },
        format="json",
    )
    assert response.status_code == 202, response.content
    assert response.json()["body"]["text"]["text"] == "Hi Ann"
