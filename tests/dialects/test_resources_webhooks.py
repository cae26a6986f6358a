"""Canonical API: /workspaces/{w}/webhook-subscriptions and their attempts (SPEC §3.1)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from messaging.models import WebhookAttempt, WebhookSubscription

pytestmark = pytest.mark.django_db

PUBLIC = "http://93.184.216.34/hooks"  # a global address literal: no DNS lookup in tests


def url(workspace, pk=None, tail="") -> str:
    base = f"/workspaces/{workspace.id}/webhook-subscriptions"
    return (f"{base}/{pk}" if pk else base) + tail


def test_it_creates_a_subscription_and_shows_the_signing_key_once(api, workspace, admin_key):
    client = api.key(admin_key)
    resp = client.post(
        url(workspace), {"url": PUBLIC, "events": ["sms.outbound", "*.inbound"]}, format="json"
    )
    assert resp.status_code == 201, resp.content
    body = resp.json()
    subscription = WebhookSubscription.objects.get(pk=body["id"])
    assert body["signingKey"] == subscription.signing_key
    assert body["signingKey"].startswith("whsec_")
    assert body["events"] == ["sms.outbound", "*.inbound"]
    assert body["active"] is True
    shown = client.get(url(workspace, subscription.id)).json()
    assert "signingKey" not in shown
    assert shown["url"] == PUBLIC


def test_the_metadata_address_is_always_refused(api, workspace, admin_key, settings):
    settings.ALLOW_PRIVATE_URLS = True
    resp = api.key(admin_key).post(
        url(workspace),
        {"url": "http://169.254.169.254/latest/meta-data", "events": ["sms.outbound"]},
        format="json",
    )
    assert resp.status_code == 422
    assert "url" in resp.json()["details"]
    assert WebhookSubscription.objects.count() == 0


def test_loopback_is_refused_unless_private_urls_are_allowed(api, workspace, admin_key, settings):
    client = api.key(admin_key)
    body = {"url": "http://127.0.0.1:8080/hook", "events": ["email.inbound"]}
    settings.ALLOW_PRIVATE_URLS = False
    resp = client.post(url(workspace), body, format="json")
    assert resp.status_code == 422
    assert "loopback" in resp.json()["details"]["url"][0]
    settings.ALLOW_PRIVATE_URLS = True
    assert client.post(url(workspace), body, format="json").status_code == 201


def test_patch_checks_the_url_again_and_reactivation_clears_the_reason(api, workspace, admin_key, settings):
    settings.ALLOW_PRIVATE_URLS = False
    subscription = WebhookSubscription.objects.create(
        workspace=workspace,
        url=PUBLIC,
        events=["sms.outbound"],
        active=False,
        disabled_reason="too many failures",
    )
    client = api.key(admin_key)
    resp = client.patch(url(workspace, subscription.id), {"url": "http://10.0.0.5/x"}, format="json")
    assert resp.status_code == 422
    assert "url" in resp.json()["details"]
    resp = client.patch(
        url(workspace, subscription.id), {"active": True, "events": ["push.outbound"]}, format="json"
    )
    assert resp.status_code == 200
    assert (resp.json()["active"], resp.json()["disabledReason"]) == (True, "")
    subscription.refresh_from_db()
    assert (subscription.url, subscription.events, subscription.active) == (PUBLIC, ["push.outbound"], True)


@pytest.mark.parametrize(
    "body, field",
    [
        ({"events": ["sms.outbound"]}, "url"),
        ({"url": "not a url", "events": ["sms.outbound"]}, "url"),
        ({"url": "ftp://93.184.216.34/x", "events": ["sms.outbound"]}, "url"),
        ({"url": PUBLIC}, "events"),
        ({"url": PUBLIC, "events": []}, "events"),
        ({"url": PUBLIC, "events": "sms.outbound"}, "events"),
        ({"url": PUBLIC, "events": ["sms.outbound", "sms.sideways"]}, "events[1]"),
        ({"url": PUBLIC, "events": ["fax.inbound"]}, "events[0]"),
        ({"url": PUBLIC, "events": ["sms"]}, "events[0]"),
        ({"url": PUBLIC, "events": ["sms.outbound"], "signingKey": "whsec_x"}, "signingKey"),
        ({"url": PUBLIC, "events": ["sms.outbound"], "secret": "x"}, "secret"),
    ],
)
def test_it_rejects_bad_input_naming_the_field(api, workspace, admin_key, body, field):
    resp = api.key(admin_key).post(url(workspace), body, format="json")
    assert resp.status_code == 422, resp.content
    assert field in resp.json()["details"], resp.json()
    assert WebhookSubscription.objects.count() == 0


def test_it_lists_attempts_of_one_subscription_newest_first(api, workspace, admin_key):
    subscription = WebhookSubscription.objects.create(
        workspace=workspace, url=PUBLIC, events=["sms.outbound"]
    )
    other = WebhookSubscription.objects.create(workspace=workspace, url=PUBLIC, events=["sms.inbound"])
    start = timezone.now()
    for i in range(3):
        WebhookAttempt.objects.create(
            subscription=subscription,
            workspace=workspace,
            url=PUBLIC,
            event_type="sms.outbound",
            webhook_id=f"msg_{i}",
            attempt=i + 1,
            status_code=500 if i < 2 else 200,
            duration_ms=12,
            response_excerpt="oops" if i < 2 else "ok",
            succeeded=i == 2,
            at=start + timedelta(seconds=i),
        )
    WebhookAttempt.objects.create(
        subscription=other, workspace=workspace, url=PUBLIC, event_type="sms.inbound", webhook_id="x"
    )
    client = api.key(admin_key)
    page = client.get(url(workspace, subscription.id, "/attempts"), {"limit": 2}).json()
    assert [a["webhookId"] for a in page["results"]] == ["msg_2", "msg_1"]
    first = page["results"][0]
    assert (first["statusCode"], first["durationMs"], first["responseExcerpt"], first["succeeded"]) == (
        200,
        12,
        "ok",
        True,
    )
    assert (first["eventType"], first["attempt"], first["error"]) == ("sms.outbound", 3, "")
    rest = client.get(
        url(workspace, subscription.id, "/attempts"), {"pageToken": page["nextPageToken"]}
    ).json()
    assert [a["webhookId"] for a in rest["results"]] == ["msg_0"]


def test_it_lists_and_deletes(api, workspace, other_workspace, admin_key):
    mine = WebhookSubscription.objects.create(workspace=workspace, url=PUBLIC, events=["sms.outbound"])
    WebhookSubscription.objects.create(workspace=other_workspace, url=PUBLIC, events=["sms.outbound"])
    client = api.key(admin_key)
    listed = client.get(url(workspace)).json()["results"]
    assert [s["id"] for s in listed] == [str(mine.id)]
    assert "signingKey" not in listed[0]
    assert client.delete(url(workspace, mine.id)).status_code == 204
    assert not WebhookSubscription.objects.filter(pk=mine.pk).exists()


def test_another_workspaces_subscription_and_attempts_are_not_found(
    api, workspace, other_workspace, admin_key
):
    foreign = WebhookSubscription.objects.create(
        workspace=other_workspace, url=PUBLIC, events=["sms.outbound"]
    )
    client = api.key(admin_key)
    assert client.get(url(workspace, foreign.id)).status_code == 404
    assert client.get(url(workspace, foreign.id, "/attempts")).status_code == 404
    assert client.delete(url(workspace, foreign.id)).status_code == 404
    assert WebhookSubscription.objects.filter(pk=foreign.pk).exists()
