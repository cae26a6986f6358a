"""Link tracking makes one ShortLink row per distinct URL; a message cannot make an
unbounded number of them (security review: row amplification from one request)."""

from messaging.models import Message, ShortLink
from messaging.services.smartlinks import MAX_TRACKED
from tests import factories


def send(client, workspace, channel, urls: int):
    text = " ".join(f"https://example.com/{n}" for n in range(urls))
    return client.post(
        f"/workspaces/{workspace.id}/channels/{channel.id}/messages",
        {
            "receiver": {"contacts": [{"identifierKey": "phonenumber", "identifierValue": "+15551234567"}]},
            "body": {"type": "text", "text": {"text": text}},
            "enableLinkTracking": True,
        },
        format="json",
    )


def test_too_many_distinct_links_to_track_is_422_and_stores_nothing(api, sender_key, workspace):
    channel = factories.create_channel(workspace, "sms", "sandbox", name="SMS")
    response = send(api.key(sender_key), workspace, channel, MAX_TRACKED + 1)
    assert response.status_code == 422, response.status_code
    assert "enableLinkTracking" in response.json()["details"]
    assert not Message.objects.exists() and not ShortLink.objects.exists()


def test_up_to_the_limit_every_link_is_tracked(api, sender_key, workspace):
    channel = factories.create_channel(workspace, "sms", "sandbox", name="SMS")
    response = send(api.key(sender_key), workspace, channel, MAX_TRACKED)
    assert response.status_code == 202, response.content
    assert ShortLink.objects.count() == MAX_TRACKED
    assert "example.com" not in response.json()["body"]["text"]["text"]
