"""Webhook subscriptions: signed events on commit, the retry ladder, 410, the attempt log."""

import socket
from datetime import timedelta

import pytest
from django_q.models import Schedule
from standardwebhooks import Webhook

from messaging import webhook_tasks
from messaging.models import WebhookAttempt, WebhookSubscription
from messaging.services import status, webhooks
from messaging.services.receive import receive_message
from tests import factories


@pytest.fixture
def channel(workspace):
    return factories.create_channel(workspace, "sms", "sandbox")


@pytest.fixture
def message(channel):
    contact = factories.create_contact(channel.workspace, phone="+14155550100")
    return factories.create_message(channel, contact, reference="order-9", status="processing")


@pytest.fixture
def subscribe(workspace, receiver, allow_private, sync_tasks):
    def make(events=("sms.outbound",), url=None, ws=None):
        return WebhookSubscription.objects.create(
            workspace=ws or workspace, url=url or receiver.url("/events"), events=list(events)
        )

    return make


@pytest.fixture
def on_commit(django_capture_on_commit_callbacks):
    """Run what the code under test publishes on commit (test transactions never commit)."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def mark_sent(message, on_commit):
    with on_commit():
        status.transition(message, "sent", actor="test")


def verified(sub, request) -> dict:
    return Webhook(sub.signing_key).verify(request.body, request.headers)


class TestEvents:
    def test_a_status_change_is_delivered_signed(self, subscribe, message, receiver, on_commit):
        sub = subscribe()
        mark_sent(message, on_commit)

        [request] = receiver.requests
        event = verified(sub, request)
        assert event["type"] == "sms.outbound"
        assert event["data"]["id"] == str(message.id)
        assert event["data"]["status"] == "sent"
        assert event["data"]["direction"] == "outgoing"
        assert event["data"]["channelId"] == str(message.channel_id)
        assert event["data"]["reference"] == "order-9"
        assert event["timestamp"].endswith("Z")

        [attempt] = WebhookAttempt.objects.filter(subscription=sub)
        assert (attempt.attempt, attempt.status_code, attempt.succeeded) == (1, 200, True)
        assert attempt.webhook_id == request.headers["webhook-id"]
        assert attempt.event_type == "sms.outbound"
        assert attempt.next_attempt_at is None
        assert attempt.duration_ms is not None
        assert attempt.response_excerpt == "ok"

    def test_an_incoming_message_is_an_inbound_event(self, subscribe, channel, receiver, on_commit):
        sub = subscribe(events=["sms.inbound"])
        with on_commit():
            incoming = receive_message(channel, "phonenumber", "+14155550111", {"type": "text", "text": {"text": "hi"}})

        [request] = receiver.requests
        event = verified(sub, request)
        assert event["type"] == "sms.inbound"
        assert event["data"]["id"] == str(incoming.id)
        assert event["data"]["direction"] == "incoming"
        assert event["data"]["body"] == {"type": "text", "text": {"text": "hi"}}
        assert event["data"]["sender"]["identifierValue"] == "+14155550111"

    @pytest.mark.parametrize(
        ("events", "delivered"),
        [
            (["*"], 1),
            (["*.outbound"], 1),
            (["sms.*"], 1),
            (["sms.outbound", "email.outbound"], 1),
            (["*.inbound"], 0),
            (["sms.inbound"], 0),
            (["email.outbound"], 0),
        ],
    )
    def test_only_matching_events_are_delivered(self, subscribe, message, receiver, on_commit, events, delivered):
        subscribe(events=events)
        mark_sent(message, on_commit)
        assert len(receiver.requests) == delivered
        assert WebhookAttempt.objects.count() == delivered

    def test_other_workspaces_and_inactive_subscriptions_get_nothing(
        self, subscribe, other_workspace, message, receiver, on_commit
    ):
        subscribe(ws=other_workspace)
        inactive = subscribe()
        inactive.active = False
        inactive.save()
        mark_sent(message, on_commit)
        assert receiver.requests == []
        assert WebhookAttempt.objects.count() == 0

    def test_a_message_accepted_by_the_send_path_is_an_event_for_its_workspace_only(
        self, subscribe, other_workspace, channel, receiver, on_commit
    ):
        """The send path hands the listener the subscriptions it keeps per workspace
        (webhooks.subscriptions_of); what reaches the subscribers is the same as where the
        listener reads them itself."""
        from messaging.services.send import send_text

        mine = subscribe()
        subscribe(ws=other_workspace)
        inactive = subscribe()
        inactive.active = False
        inactive.save()
        with on_commit():
            message = send_text(channel, "phonenumber", "+14155550123", "hello")

        # Inline tasks deliver it at once too: each status once, signed for `mine` only.
        events = [verified(mine, request) for request in receiver.requests]
        assert {(e["type"], e["data"]["id"]) for e in events} == {("sms.outbound", str(message.id))}
        statuses = [e["data"]["status"] for e in events]
        assert statuses[0] == "accepted" and len(statuses) == len(set(statuses))

    def test_the_listener_reads_no_subscriptions_it_was_given(self, message, django_assert_num_queries):
        change = status.StatusChange(message.id, message.workspace_id, message.channel_id, "sent", "", message.created_at)
        with django_assert_num_queries(0):
            assert webhooks.on_status_changed([change], webhook_subscriptions={}) == 0
        with django_assert_num_queries(1):
            assert webhooks.on_status_changed([change]) == 0

    def test_nothing_is_sent_for_a_change_that_rolls_back(self, subscribe, message, receiver, django_capture_on_commit_callbacks):
        subscribe()
        with django_capture_on_commit_callbacks(execute=False):
            status.transition(message, "sent")
        assert receiver.requests == []

    def test_every_subscription_gets_its_own_signature(self, subscribe, message, receiver, on_commit):
        first, second = subscribe(), subscribe()
        mark_sent(message, on_commit)
        assert len(receiver.requests) == 2
        verified_by = set()
        for request in receiver.requests:
            for sub in (first, second):
                try:
                    verified(sub, request)
                    verified_by.add(sub.id)
                except Exception:
                    pass
        assert verified_by == {first.id, second.id}


class TestRetries:
    def test_failures_follow_the_standard_webhooks_ladder_then_give_up(self, subscribe, message, receiver, on_commit):
        receiver.answer(500, "oops")
        sub = subscribe()
        mark_sent(message, on_commit)

        deltas = []
        for number in range(1, webhooks.MAX_ATTEMPTS + 1):
            latest = WebhookAttempt.objects.get(subscription=sub, attempt=number)
            assert (latest.status_code, latest.succeeded, latest.response_excerpt) == (500, False, "oops")
            if latest.next_attempt_at is None:
                break
            deltas.append(latest.next_attempt_at - latest.at)
            # Not due yet: the sweep leaves it alone.
            assert webhook_tasks.retry_due_webhooks(now=latest.next_attempt_at - timedelta(seconds=1)) == 0
            assert webhook_tasks.retry_due_webhooks(now=latest.next_attempt_at + timedelta(seconds=1)) == 1

        assert deltas == [
            timedelta(seconds=5),
            timedelta(minutes=5),
            timedelta(minutes=30),
            timedelta(hours=2),
            timedelta(hours=5),
            timedelta(hours=10),
            timedelta(hours=14),
            timedelta(hours=20),
            timedelta(hours=24),
        ]
        attempts = list(WebhookAttempt.objects.filter(subscription=sub).order_by("attempt"))
        assert [a.attempt for a in attempts] == list(range(1, 11))
        assert attempts[-1].next_attempt_at is None
        assert attempts[-1].error == "HTTP 500 Internal Server Error; gave up after 10 attempts"
        assert all(a.next_attempt_at is None for a in attempts)  # nothing left pending
        # One webhook-id across all retries, each attempt freshly signed and verifiable.
        assert len(receiver.requests) == 10
        assert {r.headers["webhook-id"] for r in receiver.requests} == {attempts[0].webhook_id}
        for request in receiver.requests:
            verified(sub, request)
        assert webhook_tasks.retry_due_webhooks(now=attempts[-1].at + timedelta(days=30)) == 0

    def test_a_retry_that_succeeds_ends_the_ladder(self, subscribe, message, receiver, on_commit):
        receiver.answer_sequence((503, "busy"), (204, ""))
        sub = subscribe()
        mark_sent(message, on_commit)
        first = WebhookAttempt.objects.get(subscription=sub, attempt=1)

        webhook_tasks.retry_due_webhooks(now=first.next_attempt_at)

        second = WebhookAttempt.objects.get(subscription=sub, attempt=2)
        assert (second.status_code, second.succeeded, second.next_attempt_at) == (204, True, None)
        first.refresh_from_db()
        assert first.next_attempt_at is None
        assert webhook_tasks.retry_due_webhooks(now=second.at + timedelta(days=2)) == 0

    def test_a_retry_is_made_once_even_if_queued_twice(self, subscribe, message, receiver, on_commit):
        receiver.answer(500, "oops")
        sub = subscribe()
        mark_sent(message, on_commit)
        first = WebhookAttempt.objects.get(subscription=sub, attempt=1)

        assert webhook_tasks.retry_webhook(first.id) is not None
        assert webhook_tasks.retry_webhook(first.id) is None
        assert len(receiver.requests) == 2
        assert WebhookAttempt.objects.filter(subscription=sub).count() == 2

    def test_gone_disables_the_subscription(self, subscribe, message, channel, receiver, on_commit):
        receiver.answer(410, "gone")
        sub = subscribe()
        mark_sent(message, on_commit)

        sub.refresh_from_db()
        assert sub.active is False
        assert "410" in sub.disabled_reason
        [attempt] = WebhookAttempt.objects.filter(subscription=sub)
        assert (attempt.status_code, attempt.next_attempt_at) == (410, None)
        # Later events go nowhere.
        with on_commit():
            status.transition(message, "delivered")
        assert len(receiver.requests) == 1

    def test_a_disabled_subscription_gets_no_more_retries(self, subscribe, message, receiver, on_commit):
        receiver.answer(500, "oops")
        sub = subscribe()
        mark_sent(message, on_commit)
        first = WebhookAttempt.objects.get(subscription=sub)
        WebhookSubscription.objects.filter(id=sub.id).update(active=False)

        assert webhook_tasks.retry_due_webhooks(now=first.next_attempt_at) == 0
        assert webhook_tasks.retry_webhook(first.id) is None
        assert len(receiver.requests) == 1

    def test_the_response_excerpt_is_capped(self, subscribe, message, receiver, on_commit):
        receiver.answer(500, "e" * 3000)
        sub = subscribe()
        mark_sent(message, on_commit)
        assert WebhookAttempt.objects.get(subscription=sub).response_excerpt == "e" * 500


class TestGuardAndFailures:
    def test_a_url_refused_at_send_time_is_logged_without_a_request(self, subscribe, message, receiver, on_commit):
        sub = subscribe(url="http://169.254.169.254/latest/meta-data/")
        mark_sent(message, on_commit)

        [attempt] = WebhookAttempt.objects.filter(subscription=sub)
        assert attempt.status_code is None
        assert attempt.succeeded is False
        assert attempt.error.startswith("Refused by the SSRF guard, no request made")
        assert "link-local" in attempt.error
        assert attempt.next_attempt_at is not None
        assert receiver.requests == []

    def test_loopback_is_refused_when_private_urls_are_off(self, subscribe, message, receiver, on_commit, settings):
        sub = subscribe()
        settings.ALLOW_PRIVATE_URLS = False
        mark_sent(message, on_commit)
        [attempt] = WebhookAttempt.objects.filter(subscription=sub)
        assert "ALLOW_PRIVATE_URLS" in attempt.error
        assert receiver.requests == []

    def test_an_unreachable_receiver_is_logged_and_retried(self, subscribe, message, on_commit):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        sub = subscribe(url=f"http://127.0.0.1:{port}/events")
        mark_sent(message, on_commit)
        [attempt] = WebhookAttempt.objects.filter(subscription=sub)
        assert attempt.error.startswith("connection failed")
        assert attempt.next_attempt_at - attempt.at == timedelta(seconds=5)

    def test_a_slow_receiver_times_out(self, subscribe, message, receiver, on_commit, settings):
        settings.OUTBOUND_HTTP_TIMEOUT = 1
        receiver.answer(200, "late", delay=2)
        sub = subscribe()
        mark_sent(message, on_commit)
        [attempt] = WebhookAttempt.objects.filter(subscription=sub)
        assert attempt.error == "timed out after 1s"
        assert attempt.duration_ms >= 900
        assert attempt.next_attempt_at is not None

    def test_a_deleted_subscription_is_not_retried(self, subscribe, message, receiver, on_commit):
        receiver.answer(500, "oops")
        sub = subscribe()
        mark_sent(message, on_commit)
        WebhookSubscription.objects.filter(id=sub.id).delete()
        assert WebhookAttempt.objects.count() == 0  # its log goes with it
        assert webhook_tasks.retry_due_webhooks(now=None) == 0


def test_the_retry_sweep_is_scheduled_every_minute(db):
    Schedule.objects.filter(name=webhooks.SCHEDULE_NAME).delete()
    assert webhooks.ensure_schedule() is True
    assert webhooks.ensure_schedule() is False
    schedule = Schedule.objects.get(name=webhooks.SCHEDULE_NAME)
    assert (schedule.func, schedule.schedule_type, schedule.minutes, schedule.repeats) == (
        "messaging.webhook_tasks.retry_due_webhooks",
        Schedule.MINUTES,
        1,
        -1,
    )
