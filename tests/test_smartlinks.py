"""Smart links: per-recipient short URLs, /l/<code> redirects with a click log, expiry,
tracked links of the canonical API, click counts where users look for them."""

import json
import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from messaging.models import LinkClick, Message, ShortLink, SmartLink
from tests import factories

CODE = re.compile(r"/l/([A-Za-z0-9_-]+)")
BASE = "http://sb.example.test"


@pytest.fixture(autouse=True)
def public_base(settings):
    settings.PUBLIC_BASE_URL = BASE


@pytest.fixture
def link(workspace):
    return SmartLink.objects.create(workspace=workspace, linkid=7, url="https://shop.example.com/sale", validity=60)


@pytest.fixture
def key(workspace, sms_channel):
    return factories.create_service(workspace, "shop")[1]


def send_002(client, key: str, text: str, numbers: list[str], **extra) -> dict:
    body = {
        "deliverychannel": "sms",
        "channels": {"sms": {"text": text}},
        "destination": [{"msisdn": numbers}],
        **extra,
    }
    resp = client.post("/resources/v1/messaging", json.dumps(body), content_type="application/json", HTTP_KEY=key)
    assert resp.status_code == 202, resp.content
    return resp.json()


def codes_in(text: str) -> list[str]:
    return CODE.findall(text)


# --- expansion ---------------------------------------------------------------------------------


def test_each_recipient_gets_an_own_short_url_for_the_token(client, key, link):
    before = timezone.now()
    send_002(client, key, "Sale! {smartlink:7} today", ["+14155550101", "+14155550102"], smartlinks=[{"linkid": 7}])

    messages = list(Message.objects.all())
    codes = {m.id: codes_in(m.text) for m in messages}
    assert all(len(c) == 1 for c in codes.values())
    assert len({c[0] for c in codes.values()}) == 2  # per recipient, not shared
    for message in messages:
        code = codes[message.id][0]
        assert message.text == f"Sale! {BASE}/l/{code} today"
        short = ShortLink.objects.get(code=code)
        assert (short.message_id, short.contact_id, short.smartlink_id) == (message.id, message.contact_id, link.id)
        assert short.url == link.url
        assert before + timedelta(minutes=60) <= short.expires_at <= timezone.now() + timedelta(minutes=60)


def test_the_requests_validity_overrides_the_smart_links_default(client, key, link):
    before = timezone.now()
    send_002(client, key, "Go {smartlink:7}", ["+14155550101"], smartlinks=[{"linkid": "7", "validity": "5"}])
    short = ShortLink.objects.get()
    assert before + timedelta(minutes=5) <= short.expires_at <= timezone.now() + timedelta(minutes=5)


def test_a_listed_link_not_in_the_text_is_appended_on_its_own_line(client, key, workspace, link):
    other = SmartLink.objects.create(workspace=workspace, linkid=8, url="https://shop.example.com/faq")
    send_002(client, key, "Hello {smartlink:8}", ["+14155550101"], smartlinks=[{"linkid": 7}, {"linkid": 8}])

    message = Message.objects.get()
    first_line, second_line = message.text.split("\n")
    assert codes_in(first_line) and codes_in(second_line)
    assert ShortLink.objects.get(code=codes_in(first_line)[0]).smartlink == other
    assert ShortLink.objects.get(code=codes_in(second_line)[0]).smartlink == link
    assert second_line == f"{BASE}/l/{codes_in(second_line)[0]}"


def test_a_token_of_an_unlisted_smart_link_is_expanded_with_its_default_validity(client, key, link):
    send_002(client, key, "See {smartlink:7} and again {smartlink:7}", ["+14155550101"])
    message = Message.objects.get()
    codes = codes_in(message.text)
    assert len(codes) == 2 and codes[0] == codes[1]  # one short link per message and smart link
    assert ShortLink.objects.count() == 1


def test_an_email_gets_the_link_in_text_and_html(client, workspace, email_channel, link):
    _, key = factories.create_service(workspace, "mailer")
    body = {
        "deliverychannel": "email",
        "channels": {"email": {"subject": "Offer", "html": "<p>Our offer</p>", "text": "Our offer"}},
        "destination": [{"email": ["ann@example.com"]}],
        "smartlinks": [{"linkid": 7}],
    }
    resp = client.post("/resources/v1/messaging", json.dumps(body), content_type="application/json", HTTP_KEY=key)
    assert resp.status_code == 202

    html = Message.objects.get().body["html"]
    code = ShortLink.objects.get().code
    assert html["text"] == f"Our offer\n{BASE}/l/{code}"
    assert html["html"] == f'<p>Our offer</p><p><a href="{BASE}/l/{code}">{BASE}/l/{code}</a></p>'


# --- /l/<code> -----------------------------------------------------------------------------------


def test_following_a_link_redirects_and_logs_the_click(client, key, link):
    send_002(client, key, "Go {smartlink:7}", ["+14155550101"])
    short = ShortLink.objects.get()

    resp = client.get(f"/l/{short.code}", HTTP_USER_AGENT="Phone Browser 1.0", REMOTE_ADDR="203.0.113.9")

    assert resp.status_code == 302 and resp["Location"] == "https://shop.example.com/sale"
    assert resp["Cache-Control"] == "no-store"
    click = LinkClick.objects.get()
    assert (click.short_link, click.user_agent, click.ip) == (short, "Phone Browser 1.0", "203.0.113.9")
    assert click.short_link.message.receiver["contacts"][0]["identifierValue"] == "+14155550101"
    assert click.short_link.contact_id == Message.objects.get().contact_id
    assert abs((timezone.now() - click.at).total_seconds()) < 5


def test_a_head_request_redirects_without_counting_a_click(client, key, link):
    send_002(client, key, "Go {smartlink:7}", ["+14155550101"])
    resp = client.head(f"/l/{ShortLink.objects.get().code}")
    assert resp.status_code == 302
    assert LinkClick.objects.count() == 0


def test_an_expired_link_answers_410_with_a_page(client, key, link):
    send_002(client, key, "Go {smartlink:7}", ["+14155550101"])
    short = ShortLink.objects.get()
    ShortLink.objects.filter(id=short.id).update(expires_at=timezone.now() - timedelta(seconds=1))

    resp = client.get(f"/l/{short.code}")

    assert resp.status_code == 410
    assert "This link has expired" in resp.content.decode()
    assert resp["Content-Type"].startswith("text/html")
    assert LinkClick.objects.count() == 0


def test_a_link_of_a_switched_off_smart_link_answers_410(client, key, link):
    send_002(client, key, "Go {smartlink:7}", ["+14155550101"])
    SmartLink.objects.filter(id=link.id).update(active=False)
    assert client.get(f"/l/{ShortLink.objects.get().code}").status_code == 410


def test_an_unknown_code_is_404(client, db):
    assert client.get("/l/doesnotexist").status_code == 404
    assert LinkClick.objects.count() == 0


def test_a_deleted_smart_link_keeps_links_already_sent_working(client, key, link):
    send_002(client, key, "Go {smartlink:7}", ["+14155550101"])
    link.delete()
    resp = client.get(f"/l/{ShortLink.objects.get().code}")
    assert resp.status_code == 302 and resp["Location"] == "https://shop.example.com/sale"


# --- the canonical API ------------------------------------------------------------------------------


def canonical_send(api, channel, key: str, text: str, **extra):
    url = f"/workspaces/{channel.workspace_id}/channels/{channel.id}/messages"
    body = {
        "receiver": {"contacts": [{"identifierKey": "phonenumber", "identifierValue": "+14155550101"}]},
        "body": {"type": "text", "text": {"text": text}},
        **extra,
    }
    return api.key(key).post(url, body, format="json")


def test_canonical_short_links_replace_urls_with_tracked_links(api, sms_channel, sender_key):
    resp = canonical_send(
        api, sms_channel, sender_key, "Read https://example.com/a?x=1. Or https://example.com/a?x=1!",
        shortLinks={"enabled": True, "domain": "go.example.net"},
    )
    assert resp.status_code == 202, resp.content
    text = resp.json()["body"]["text"]["text"]
    code = ShortLink.objects.get().code  # one link per distinct URL
    assert text == f"Read https://go.example.net/l/{code}. Or https://go.example.net/l/{code}!"
    assert ShortLink.objects.get().url == "https://example.com/a?x=1"


def test_canonical_link_tracking_uses_the_public_base_url(api, sms_channel, sender_key):
    resp = canonical_send(api, sms_channel, sender_key, "See https://example.com/x", enableLinkTracking=True)
    code = ShortLink.objects.get().code
    assert resp.json()["body"]["text"]["text"] == f"See {BASE}/l/{code}"


def test_canonical_texts_are_left_alone_without_link_options(api, sms_channel, sender_key):
    resp = canonical_send(api, sms_channel, sender_key, "See https://example.com/x")
    assert resp.json()["body"]["text"]["text"] == "See https://example.com/x"
    assert ShortLink.objects.count() == 0


def test_canonical_smartlink_tokens_expand_and_unknown_ones_are_rejected(api, sms_channel, sender_key, link):
    resp = canonical_send(api, sms_channel, sender_key, "Go {smartlink:7}", enableLinkTracking=True)
    assert resp.status_code == 202
    short = ShortLink.objects.get()  # the smart link's own short URL is not tracked twice
    assert short.smartlink == link
    assert resp.json()["body"]["text"]["text"] == f"Go {BASE}/l/{short.code}"

    resp = canonical_send(api, sms_channel, sender_key, "Go {smartlink:99}")
    assert resp.status_code == 422
    assert "body" in resp.json()["details"]


# --- click counts ----------------------------------------------------------------------------------


def test_clicks_show_on_the_message_resource_and_the_smart_link(api, client, key, link, workspace, viewer_key):
    answer = send_002(client, key, "Go {smartlink:7}", ["+14155550101", "+14155550102"])
    messages = list(Message.objects.filter(transid=answer["response"][0]["transid"]))
    clicked = ShortLink.objects.get(message=messages[0])
    for _ in range(3):
        client.get(f"/l/{clicked.code}")

    api.key(viewer_key)
    one = api.get(f"/workspaces/{workspace.id}/channels/{messages[0].channel_id}/messages/{messages[0].id}").json()
    assert one["clicks"] == 3
    page = api.get(f"/workspaces/{workspace.id}/messages").json()["results"]
    assert sorted(m["clicks"] for m in page) == [0, 3]
    assert api.get(f"/workspaces/{workspace.id}/smartlinks/{link.id}").json()["clicks"] == 3


def test_the_admin_shows_a_short_links_clicks(client, key, link):
    send_002(client, key, "Go {smartlink:7}", ["+14155550101"])
    short = ShortLink.objects.get()
    client.get(f"/l/{short.code}", HTTP_USER_AGENT="Clicker/2")
    get_user_model().objects.create_superuser("root", "root@example.com", "pw-123456789")
    client.login(username="root", password="pw-123456789")

    listing = client.get(reverse("admin:messaging_shortlink_changelist")).content.decode()
    detail = client.get(reverse("admin:messaging_shortlink_change", args=[short.pk])).content.decode()

    assert short.code in listing and 'class="field-click_count">1<' in listing
    assert "Clicker/2" in detail
