"""The dashboard in a real headless Chromium against a real daphne process.

The server runs in its own process on the test database; everything the page must show
happens *inside that server* (a send and a cancel through the canonical API, an incoming
message through the signed inbound hook, a pause from the page), and the live events reach
the browser over /ws/live/ with the default in-memory channel layer — no Redis needed (the
server's relay publishes them from the database, messaging.live.relay; with REDIS_URL set
the signals do). The user logs in at the portal's own /login/ as a workspace member who is
not staff. The page is never reloaded: a marker set on `window` after the first load must
still be there at the end.
"""

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import httpx
import pytest
from django.db import connection
from playwright.sync_api import expect, sync_playwright
from standardwebhooks import Webhook

from messaging.models import Channel, Conversation
from tests import factories
from tests.portal.server import daphne

pytestmark = pytest.mark.django_db(transaction=True)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 375, "height": 812}
TIMEOUT_MS = 10_000


@pytest.fixture
def server(transactional_db, tmp_path):
    """A daphne process serving portal.asgi on a free port; stopped by PID afterwards."""
    with daphne(tmp_path) as base:
        yield base


def signed(secret: str, payload: dict) -> tuple[str, dict]:
    body = json.dumps(payload)
    msg_id, now = f"msg_{time.time_ns()}", datetime.now(UTC)
    signature = Webhook(secret).sign(msg_id, now, body)
    return body, {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
    }


def test_the_dashboard_updates_live_in_a_real_browser(server, tmp_path):
    workspace = factories.create_workspace("Acme")
    factories.create_user("ops", workspace=workspace, role="admin")  # a member, not staff
    channel = factories.create_channel(workspace, "sms", "sandbox", name="SMS")
    _, key = factories.create_access_key(workspace, "sender")
    api = httpx.Client(base_url=server, headers={"Authorization": f"AccessKey {key}"}, timeout=10)
    messages_url = f"/workspaces/{workspace.id}/channels/{channel.id}/messages"

    sent = api.post(
        messages_url,
        json={
            "receiver": {"contacts": [{"identifierKey": "phonenumber", "identifierValue": "+14155552671"}]},
            "body": {"type": "text", "text": {"text": "Your code is 4711"}},
        },
    )
    assert sent.status_code == 202, sent.text
    message_id = sent.json()["id"]

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=PHONE)
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(f"{server}/")
            assert page.url == f"{server}/login/?next=/"
            page.get_by_label("Username").fill("ops")
            page.get_by_label("Password").fill("pw-123456789")
            page.get_by_role("button", name="Log in").click()
            page.wait_for_url(f"{server}/")

            expect(page.locator("h1")).to_have_text("Acme")
            expect(page.locator("#live-state")).to_have_text("Live")
            row = page.locator(f'li[data-message-id="{message_id}"]')
            expect(row).to_contain_text("Your code is 4711")
            expect(row.locator('[data-field="statusLabel"]')).to_have_text("accepted")
            expect(page.locator('[data-counter="queued"]')).to_have_text("1")
            page.evaluate("window.__notReloaded = true")

            # A status change made by the server shows up in place.
            assert api.post(f"{messages_url}/{message_id}/cancel").status_code == 200
            expect(row.locator('[data-field="statusLabel"]')).to_have_text("canceled")
            expect(row).to_have_attribute("data-status", "canceled")
            expect(page.locator('[data-counter="queued"]')).to_have_text("0")  # refreshed from the snapshot

            # An incoming message is prepended to the feed.
            body, headers = signed(
                channel.inbound_secret,
                {
                    "sender": {"identifierKey": "phonenumber", "identifierValue": "+12025550143"},
                    "body": {"type": "text", "text": {"text": "Is the shop open today?"}},
                },
            )
            assert (
                httpx.post(
                    f"{server}/hooks/channels/{channel.id}/inbound", content=body, headers=headers
                ).status_code
                < 300
            )
            first = page.locator("#feed > li").first
            expect(first).to_contain_text("Is the shop open today?")
            expect(first).to_contain_text("+12025550143")
            expect(first).to_have_attribute("data-direction", "incoming")
            # ... and its conversation appears with one unread message, which the page marks read.
            conversation = page.locator("#conversations > li").first
            expect(conversation.locator('[data-field="unreadCount"]')).to_have_text("1")
            conversation.get_by_role("button", name="Mark read").click()
            expect(conversation.locator('[data-field="unreadCount"]')).to_have_text("0")
            expect(conversation.get_by_role("button", name="Mark read")).to_be_disabled()

            # Pausing from the page (fetch + CSRF) updates the channel row.
            channel_row = page.locator(f'li[data-channel-id="{channel.id}"]')
            channel_row.get_by_role("button", name="Pause SMS").click()
            expect(channel_row.locator('[data-field="state"]')).to_have_text("paused")
            expect(channel_row.get_by_role("button", name="Resume SMS")).to_be_enabled()

            assert page.evaluate("window.__notReloaded") is True
            # Usable at phone width: nothing sticks out sideways.
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
            page.screenshot(
                path=os.environ.get("DASHBOARD_SCREENSHOT") or str(tmp_path / "dashboard.png"), full_page=True
            )
        finally:
            browser.close()
    assert Channel.objects.get(pk=channel.pk).paused
    assert Conversation.objects.get(workspace=workspace).unread_count == 0


def test_the_dashboard_says_so_and_stops_when_the_session_ends_elsewhere(transactional_db, tmp_path):
    from django.contrib.sessions.models import Session

    workspace = factories.create_workspace("Acme")
    factories.create_user("ops", workspace=workspace, role="viewer")
    with daphne(tmp_path, LIVE_RECHECK_SECONDS="1") as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=PHONE)
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(f"{base}/login/?next=/")
            page.get_by_label("Username").fill("ops")
            page.get_by_label("Password").fill("pw-123456789")
            page.get_by_role("button", name="Log in").click()
            page.wait_for_url(f"{base}/")
            expect(page.locator("#live-state")).to_have_text("Live")

            # Signed out from another tab, or by an admin (off this thread: Playwright's sync
            # API runs an event loop here, where Django refuses database calls).
            with ThreadPoolExecutor(1) as pool:
                pool.submit(lambda: (Session.objects.all().delete(), connection.close())).result()

            expect(page.locator("#live-state")).to_have_text("Signed out: reload the page to sign in")
            expect(page.locator("#live-state")).to_have_attribute("data-state", "ended")
            page.wait_for_timeout(2500)  # it does not try again
            expect(page.locator("#live-state")).to_have_text("Signed out: reload the page to sign in")
        finally:
            browser.close()
