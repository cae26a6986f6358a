"""Canonical API: /workspaces/{w}/channels (SPEC §3.1)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from messaging.models import Channel, MessagingEndpoint
from tests import factories

pytestmark = pytest.mark.django_db

PUBLIC_HOOK = "http://93.184.216.34/hook"  # a global address literal: no DNS needed


def url(workspace, pk=None) -> str:
    base = f"/workspaces/{workspace.id}/channels"
    return f"{base}/{pk}" if pk else base


def test_it_creates_a_sandbox_channel_and_shows_the_inbound_secret_once(api, workspace, admin_key):
    client = api.key(admin_key)
    resp = client.post(
        url(workspace), {"name": "Main SMS", "platform": "sms", "connector": "sandbox"}, format="json"
    )
    assert resp.status_code == 201, resp.content
    body = resp.json()
    channel = Channel.objects.get(pk=body["id"])
    assert body["inboundSecret"] == channel.inbound_secret
    assert body["inboundSecret"].startswith("whsec_")
    assert body["messageType"] == "transactional"
    assert body["status"] == "active"
    assert body["settings"] == {}
    assert {"createdAt", "updatedAt"} <= set(body)

    shown = client.get(url(workspace, channel.id)).json()
    assert "inboundSecret" not in shown
    assert shown["name"] == "Main SMS"


def test_it_creates_an_engine_channel_with_a_first_device_token(api, workspace, admin_key):
    resp = api.key(admin_key).post(
        url(workspace), {"name": "Phones", "platform": "sms", "connector": "engine"}, format="json"
    )
    assert resp.status_code == 201, resp.content
    body = resp.json()
    endpoint = MessagingEndpoint.objects.get(channel_id=body["id"])
    assert str(endpoint.id) == body["endpointId"]
    assert endpoint.check_token(body["endpointToken"])
    assert "inboundSecret" not in body


def test_it_lists_channels_newest_first_in_pages(api, workspace, admin_key):
    start = timezone.now()
    for i in range(3):
        factories.create_channel(workspace, name=f"c{i}", created_at=start + timedelta(seconds=i))
    factories.create_channel(factories.create_workspace(), name="elsewhere")
    client = api.key(admin_key)
    first = client.get(url(workspace), {"limit": 2}).json()
    assert [c["name"] for c in first["results"]] == ["c2", "c1"]
    second = client.get(url(workspace), {"limit": 2, "pageToken": first["nextPageToken"]}).json()
    assert [c["name"] for c in second["results"]] == ["c0"]
    assert "nextPageToken" not in second


def test_it_filters_channels_by_platform(api, workspace, admin_key, sms_channel, email_channel):
    body = api.key(admin_key).get(url(workspace), {"platform": "email"}).json()
    assert [c["id"] for c in body["results"]] == [str(email_channel.id)]


def test_it_patches_a_channel(api, workspace, admin_key, sms_channel):
    resp = api.key(admin_key).patch(
        url(workspace, sms_channel.id), {"status": "inactive", "messageType": "2fa"}, format="json"
    )
    assert resp.status_code == 200, resp.content
    assert resp.json()["status"] == "inactive"
    sms_channel.refresh_from_db()
    assert (sms_channel.status, sms_channel.message_type) == ("inactive", "2fa")


def test_it_refuses_to_change_platform_or_connector(api, workspace, admin_key, sms_channel):
    resp = api.key(admin_key).patch(url(workspace, sms_channel.id), {"connector": "smtp"}, format="json")
    assert resp.status_code == 422
    assert "connector" in resp.json()["details"]
    sms_channel.refresh_from_db()
    assert sms_channel.connector == "sandbox"


def test_it_deletes_a_channel_without_messages(api, workspace, admin_key, sms_channel):
    resp = api.key(admin_key).delete(url(workspace, sms_channel.id))
    assert resp.status_code == 204
    assert not Channel.objects.filter(pk=sms_channel.pk).exists()
    assert api.get(url(workspace, sms_channel.id)).status_code == 404


def test_it_refuses_to_delete_a_channel_with_messages(api, workspace, admin_key, sms_channel):
    factories.create_message(sms_channel)
    resp = api.key(admin_key).delete(url(workspace, sms_channel.id))
    assert resp.status_code == 409
    assert "inactive" in resp.json()["message"]
    assert Channel.objects.filter(pk=sms_channel.pk).exists()


def test_it_rejects_a_duplicate_name_with_409_naming_name(api, workspace, admin_key, sms_channel):
    client = api.key(admin_key)
    resp = client.post(
        url(workspace), {"name": "SMS", "platform": "sms", "connector": "sandbox"}, format="json"
    )
    assert resp.status_code == 409
    assert "name" in resp.json()["details"]
    other = factories.create_channel(workspace, name="Other")
    resp = client.patch(url(workspace, other.id), {"name": "SMS"}, format="json")
    assert resp.status_code == 409
    assert "name" in resp.json()["details"]


def test_the_same_name_is_fine_in_another_workspace(api, workspace, other_workspace, admin_key):
    factories.create_channel(other_workspace, name="SMS")
    resp = api.key(admin_key).post(
        url(workspace), {"name": "SMS", "platform": "sms", "connector": "sandbox"}, format="json"
    )
    assert resp.status_code == 201


@pytest.mark.parametrize(
    "body, field",
    [
        ({"platform": "sms", "connector": "sandbox"}, "name"),
        ({"name": "x", "platform": "fax", "connector": "sandbox"}, "platform"),
        ({"name": "x", "platform": "sms", "connector": "carrier-pigeon"}, "connector"),
        ({"name": "x", "platform": "sms", "connector": "sandbox", "messageType": "spam"}, "messageType"),
        ({"name": "x", "platform": "sms", "connector": "sandbox", "status": "on"}, "status"),
        ({"name": "x", "platform": "sms", "connector": "sandbox", "settings": [1]}, "settings"),
        ({"name": "x", "platform": "sms", "connector": "sandbox", "colour": "red"}, "colour"),
        ({"name": "x", "platform": "sms", "connector": "sandbox", "id": "abc"}, "id"),
        ({"name": 5, "platform": "sms", "connector": "sandbox"}, "name"),
    ],
)
def test_it_rejects_bad_input_naming_the_field(api, workspace, admin_key, body, field):
    resp = api.key(admin_key).post(url(workspace), body, format="json")
    assert resp.status_code == 422, resp.content
    assert field in resp.json()["details"]
    assert Channel.objects.count() == 0


def test_a_webhook_channel_needs_a_safe_url(api, workspace, admin_key, settings):
    settings.ALLOW_PRIVATE_URLS = False
    client = api.key(admin_key)
    base = {"name": "Hook", "platform": "webhook", "connector": "webhook"}
    for target in (None, "http://169.254.169.254/latest", "http://127.0.0.1:9/x"):
        body = {**base, "settings": {"url": target} if target else {}}
        resp = client.post(url(workspace), body, format="json")
        assert resp.status_code == 422, target
        assert "settings.url" in resp.json()["details"]
    resp = client.post(url(workspace), {**base, "settings": {"url": PUBLIC_HOOK}}, format="json")
    assert resp.status_code == 201, resp.content
    assert resp.json()["inboundSecret"].startswith("whsec_")
    assert resp.json()["settings"] == {"url": PUBLIC_HOOK}


def test_patching_webhook_settings_checks_the_url_again(api, workspace, admin_key, settings):
    settings.ALLOW_PRIVATE_URLS = True
    channel = factories.create_channel(workspace, "webhook", "webhook", settings={"url": PUBLIC_HOOK})
    resp = api.key(admin_key).patch(
        url(workspace, channel.id), {"settings": {"url": "http://169.254.169.254/"}}, format="json"
    )
    assert resp.status_code == 422
    assert "settings.url" in resp.json()["details"]
    channel.refresh_from_db()
    assert channel.settings == {"url": PUBLIC_HOOK}


def test_secret_settings_are_masked_and_kept_when_sent_back(api, workspace, admin_key):
    channel = factories.create_channel(
        workspace, "email", "smtp", settings={"host": "mail.example.com", "password": "hunter2"}
    )
    client = api.key(admin_key)
    shown = client.get(url(workspace, channel.id)).json()
    assert shown["settings"] == {"host": "mail.example.com", "password": "********"}
    shown["settings"]["host"] = "smtp.example.com"
    resp = client.patch(url(workspace, channel.id), {"settings": shown["settings"]}, format="json")
    assert resp.status_code == 200, resp.content
    channel.refresh_from_db()
    assert channel.settings == {"host": "smtp.example.com", "password": "hunter2"}


def test_another_workspaces_channel_is_not_found(api, workspace, other_workspace, admin_key):
    foreign = factories.create_channel(other_workspace, name="theirs")
    client = api.key(admin_key)
    missing = client.get(url(workspace, "00000000-0000-0000-0000-000000000000"))
    resp = client.get(url(workspace, foreign.id))
    assert resp.status_code == missing.status_code == 404
    assert resp.json() == missing.json()
    assert client.delete(url(workspace, foreign.id)).status_code == 404
    assert Channel.objects.filter(pk=foreign.pk).exists()
