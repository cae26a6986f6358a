"""An email subject with a line break is refused at accept time, naming the field
(security review: header injection attempts get a clear 422, not a later failure)."""

from tests import factories
from tests.security.test_smtp_headers import INJECTED


def test_the_api_refuses_a_subject_with_a_line_break(api, admin_key, workspace):
    channel = factories.create_channel(workspace, "email", "sandbox", name="Mail")
    api.key(admin_key)
    response = api.post(
        f"/workspaces/{workspace.id}/channels/{channel.id}/messages",
        {
            "receiver": {"contacts": [{"identifierKey": "emailaddress", "identifierValue": "ann@example.com"}]},
            "body": {"type": "html", "html": {"html": "<p>Hi</p>", "metadata": {"subject": INJECTED}}},
        },
        format="json",
    )
    assert response.status_code == 422, response.content
    assert "body.html.metadata.subject" in response.json()["details"]


def test_a_template_parameter_cannot_put_a_line_break_in_the_subject(api, admin_key, workspace):
    channel = factories.create_channel(workspace, "email", "sandbox", name="Mail")
    client = api.key(admin_key)
    created = client.post(
        f"/workspaces/{workspace.id}/templates",
        {"name": "promo", "content": {"email": {"subject": "Hi {{name}}", "text": "Hello {{name}}"}}},
        format="json",
    )
    assert created.status_code == 201, created.content
    response = client.post(
        f"/workspaces/{workspace.id}/channels/{channel.id}/messages",
        {
            "receiver": {"contacts": [{"identifierKey": "emailaddress", "identifierValue": "ann@example.com"}]},
            "template": {"name": "promo", "parameters": [{"type": "string", "key": "name", "value": INJECTED}]},
        },
        format="json",
    )
    assert response.status_code == 422, response.content
    assert "template.parameters" in response.json()["details"]


def test_the_multichannel_api_refuses_a_subject_with_a_line_break(client, workspace):
    factories.create_channel(workspace, "email", "sandbox", name="Mail")
    _, key = factories.create_service(workspace)
    response = client.post(
        "/resources/v1/messaging",
        {
            "deliverychannel": "email",
            "destination": [{"email": ["ann@example.com"]}],
            "channels": {"email": {"subject": INJECTED, "text": "Hello"}},
        },
        content_type="application/json",
        HTTP_KEY=key,
    )
    assert response.status_code == 400, response.content
    [entry] = response.json()["response"]
    assert entry["code"] == "7004"
    assert "channels.email.subject" in entry["description"]
