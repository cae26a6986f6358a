"""Seed 002: deliveryInfoNotification POSTed to the notify URL on every delivery-status change,
through the SSRF-guarded outbound module, logged as WebhookAttempts, retried."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from messaging import notify
from messaging.models import Message, WebhookAttempt
from messaging.services import status as st
from messaging.services.send import accept_message
from tests import factories
from tests.webhooks.receiver import Receiver

URL = "/resources/v1/messaging"
CANONICAL = {
    "receiver": {"contacts": [{"identifierKey": "phonenumber", "identifierValue": "+14155550101"}]},
    "body": {"type": "text", "text": {"text": "hello"}},
}


# The receiver listens on 127.0.0.1 (receiver, allow_private, sync_tasks: tests/conftest.py).
pytestmark = pytest.mark.usefixtures("allow_private")


def send(client, key: str, notifyurl: str | None = None, **extra) -> str:
    body = {
        "deliverychannel": "sms",
        "channels": {"sms": {"text": "hello"}},
        "destination": [{"msisdn": ["+14155550101"], "correlationid": "corr-7"}],
        "callbackData": "order-42",
        **extra,
    }
    if notifyurl:
        body["notifyurl"] = notifyurl
    resp = client.post(URL, json.dumps(body), content_type="application/json", HTTP_KEY=key)
    assert resp.status_code == 202, resp.content
    return resp.json()["response"][0]["transid"]


def notifications(receiver: Receiver, count: int) -> list[dict]:
    return [json.loads(r.body) for r in receiver.wait_for(count)]


def test_the_notify_url_hears_submitted_and_delivered_with_callback_data(
    client, workspace, sms_channel, receiver, sync_tasks, django_capture_on_commit_callbacks
):
    _, key = factories.create_service(workspace)
    # The whole path runs inline: accept → dispatch (sandbox sends and delivers) → notify.
    with django_capture_on_commit_callbacks(execute=True):
        transid = send(client, key, receiver.url("/dlr"))

    received = notifications(receiver, 2)
    assert len(received) == 2
    infos = [n["deliveryInfoNotification"] for n in received]
    assert [i["deliveryInfo"]["deliveryStatus"] for i in infos] == ["Submitted", "Delivered"]
    assert [i["deliveryInfo"]["code"] for i in infos] == ["7501", "7500"]
    first = infos[0]
    assert (first["transid"], first["correlationid"], first["callbackData"]) == (transid, "corr-7", "order-42")
    assert {k: first["deliveryInfo"][k] for k in ("deliveryChannel", "destination", "destinationType")} == {
        "deliveryChannel": "sms",
        "destination": "+14155550101",
        "destinationType": "msisdn",
    }
    assert first["deliveryInfo"]["timeStamp"] and first["deliveryInfo"]["description"] == "Submitted"
    assert receiver.requests[0].path == "/dlr"
    assert Message.objects.get(transid=transid).status == "delivered"
    attempts = WebhookAttempt.objects.filter(subscription=None, event_type="deliveryInfoNotification")
    assert attempts.count() == 2 and all(a.succeeded and a.status_code == 200 for a in attempts)


def test_the_services_notify_url_is_used_when_the_request_gives_none(
    client, workspace, sms_channel, receiver, sync_tasks, django_capture_on_commit_callbacks
):
    _, key = factories.create_service(workspace, notify_url=receiver.url("/service-default"))
    transid = send(client, key)
    message = Message.objects.get(transid=transid)

    with django_capture_on_commit_callbacks(execute=True):
        st.transition(message, "processing")  # still "Queued" for the client: not sent
        st.transition(message, "sending_failed", reason="no route")

    received = notifications(receiver, 1)
    assert len(received) == 1 and receiver.requests[0].path == "/service-default"
    info = received[0]["deliveryInfoNotification"]["deliveryInfo"]
    assert (info["deliveryStatus"], info["code"], info["description"]) == ("Failed", "7503", "Failed: no route")


def test_messages_without_a_notify_target_queue_nothing(client, workspace, sms_channel, receiver):
    _, key = factories.create_service(workspace)
    message = Message.objects.get(transid=send(client, key))
    change = st.StatusChange(message.id, workspace.id, sms_channel.id, "sent", "", timezone.now())
    assert notify.on_status_changed([change]) == 0


def test_a_failed_notification_is_logged_and_retried_once_due(
    client, workspace, sms_channel, receiver, sync_tasks, django_capture_on_commit_callbacks
):
    _, key = factories.create_service(workspace)
    message = Message.objects.get(transid=send(client, key, receiver.url()))
    receiver.answer_sequence((503, "busy"), (200, "ok"))

    with django_capture_on_commit_callbacks(execute=True):
        st.transition(message, "sent")

    first = WebhookAttempt.objects.get(subscription=None)
    assert (first.succeeded, first.status_code, first.attempt) == (False, 503, 1)
    assert first.next_attempt_at is not None
    assert notify.retry_due(now=timezone.now()) == 0  # not due yet

    assert notify.retry_due(now=first.next_attempt_at + timedelta(seconds=1)) == 1
    second = WebhookAttempt.objects.exclude(id=first.id).get()
    assert (second.succeeded, second.attempt, second.webhook_id) == (True, 2, first.webhook_id)
    assert json.loads(receiver.requests[0].body) == json.loads(receiver.requests[1].body)
    first.refresh_from_db()
    assert first.next_attempt_at is None
    assert notify.retry(first.id) is None  # a retry is made once


def test_the_ssrf_guard_is_checked_again_at_send_time(
    client, workspace, sms_channel, receiver, sync_tasks, settings, django_capture_on_commit_callbacks
):
    _, key = factories.create_service(workspace)
    message = Message.objects.get(transid=send(client, key, receiver.url()))
    settings.ALLOW_PRIVATE_URLS = False  # as if the host now resolved to a private address

    with django_capture_on_commit_callbacks(execute=True):
        st.transition(message, "sent")

    attempt = WebhookAttempt.objects.get(subscription=None)
    assert not attempt.succeeded and "SSRF" in attempt.error
    assert receiver.requests == []


def test_the_retry_sweep_is_scheduled_by_migrate(db):
    from django_q.models import Schedule

    # post_migrate (connected in messaging.listeners) created it with the test database.
    assert Schedule.objects.get(name=notify.SCHEDULE_NAME).func == "messaging.notify.retry_due_notifications"
    assert notify.ensure_schedule() is False
    assert Schedule.objects.filter(name=notify.SCHEDULE_NAME).count() == 1


def test_status_changes_of_canonical_messages_cost_the_notify_listener_no_query(
    workspace, sms_channel, django_assert_num_queries, django_capture_on_commit_callbacks
):
    # A message sent through the canonical API has no service and no notify URL: the status
    # writer says so (StatusChange.notify), and the listener runs on every dispatched batch.
    changed = []
    with _captured_changes(changed), django_capture_on_commit_callbacks(execute=True):
        message = accept_message(workspace, sms_channel, CANONICAL)
    assert [c.notify for c in changed] == [False]
    changed.clear()
    with _captured_changes(changed), django_capture_on_commit_callbacks(execute=True):
        st.transition_many([message.id], "processing", actor="test")
        st.transition_many([message.id], "delivered", actor="test", via=["sent"])
    assert [(c.status, c.notify) for c in changed] == [("processing", False), ("sent", False), ("delivered", False)]
    with django_assert_num_queries(0):
        assert notify.on_status_changed(changed) == 0


def test_status_changes_of_002_messages_say_they_may_have_a_notify_target(
    client, workspace, sms_channel, django_capture_on_commit_callbacks
):
    _, key = factories.create_service(workspace)
    message = Message.objects.get(transid=send(client, key))
    changed = []
    with _captured_changes(changed), django_capture_on_commit_callbacks(execute=True):
        st.transition_many([message.id], "processing", actor="test")
    assert [c.notify for c in changed] == [True]


class _captured_changes:
    """Collects the StatusChanges published (on commit) while the block runs."""

    def __init__(self, into: list):
        self.into = into

    def __enter__(self):
        from messaging import signals

        self._receiver = lambda changes, **kwargs: self.into.extend(changes)
        signals.message_status_changed.connect(self._receiver, weak=False, dispatch_uid="test.capture")
        return self

    def __exit__(self, *exc):
        from messaging import signals

        signals.message_status_changed.disconnect(dispatch_uid="test.capture")
