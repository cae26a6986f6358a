"""The dispatch core: claims, batches, results, retries (django-q2 in sync mode)."""

import time
from datetime import timedelta
from unittest import mock

import pytest
from django.db.models import Count
from django.utils import timezone

from messaging.connectors.base import SendResult
from messaging.connectors.sandbox.transport import SandboxConnector
from messaging.models import DispatchSignal, Message, MessageEvent, SandboxSend, Status
from messaging.services import dispatch
from messaging.services import status as st
from tests import factories
from tests.delivery.conftest import bulk_messages


def events(message) -> list[str]:
    return list(MessageEvent.objects.filter(message=message).order_by("id").values_list("status", flat=True))


def test_an_accepted_message_is_sent_then_delivered(sandbox):
    contact = factories.create_contact(sandbox.workspace, phone="+15550000001")
    msg = factories.create_message(sandbox, contact)

    assert dispatch.request_dispatch() is True  # sync mode: the task runs inline

    msg.refresh_from_db()
    assert msg.status == Status.DELIVERED
    assert msg.attempts == 1
    assert events(msg) == ["processing", "sent", "delivered"]
    assert list(SandboxSend.objects.filter(message=msg).values_list("attempt", flat=True)) == [1]


def test_higher_priority_goes_first(sandbox, settings):
    settings.DISPATCH_BATCH_SIZE = 1
    low = factories.create_message(sandbox, priority=3)
    high = factories.create_message(sandbox, priority=1)
    mid = factories.create_message(sandbox, priority=2)

    assert dispatch.dispatch_due() == 3

    order = list(SandboxSend.objects.order_by("id").values_list("message_id", flat=True))
    assert order == [high.id, mid.id, low.id]


def test_a_burst_of_accepts_queues_one_task(sandbox, monkeypatch):
    """1,000 accepts, each followed by request_dispatch() on commit, queue one task."""
    queued = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda func, **kw: queued.append(func))
    bulk_messages(sandbox, 1000)

    results = [dispatch.request_dispatch() for _ in range(1000)]

    assert queued == ["messaging.tasks.dispatch_due"]
    assert results.count(True) == 1
    flag = DispatchSignal.objects.get(name="dispatch")
    assert flag.pending_until > timezone.now()


def test_a_new_request_queues_again_once_the_task_started(sandbox, monkeypatch):
    queued = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda func, **kw: queued.append(func))
    assert dispatch.request_dispatch()
    dispatch.dispatch_due()  # a worker picked the task up: the flag is cleared
    assert dispatch.request_dispatch()
    assert not dispatch.request_dispatch()
    assert len(queued) == 2


def test_a_lost_task_is_replaced_after_the_flag_expires(sandbox, monkeypatch, settings):
    queued = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda func, **kw: queued.append(func))
    assert dispatch.request_dispatch()
    DispatchSignal.objects.filter(name="dispatch").update(pending_until=timezone.now() - timedelta(seconds=1))
    assert dispatch.request_dispatch()
    assert len(queued) == 2


def test_dispatch_claims_in_batches(sandbox, settings):
    settings.DISPATCH_BATCH_SIZE = 100
    bulk_messages(sandbox, 1000)
    sizes = []
    real = SandboxConnector.send_batch

    def spy(self, messages):
        sizes.append(len(messages))
        return real(self, messages)

    with mock.patch.object(SandboxConnector, "send_batch", spy):
        assert dispatch.dispatch_due() == 1000

    assert sizes == [100] * 10
    assert Message.objects.filter(status=Status.DELIVERED).count() == 1000
    dupes = SandboxSend.objects.values("message_id").annotate(n=Count("id")).filter(n__gt=1)
    assert not dupes.exists()


def test_claim_marks_processing_with_owner_and_attempt(sandbox):
    msg = factories.create_message(sandbox)
    now = timezone.now()

    claimed = dispatch.claim_batch(now=now, worker="w1")

    assert claimed == [msg.id]
    msg.refresh_from_db()
    assert (msg.status, msg.claimed_by, msg.claimed_at, msg.attempts) == (Status.PROCESSING, "w1", now, 1)
    assert dispatch.claim_batch(worker="w2") == []  # nobody else gets it


def test_a_connector_exception_retries_the_batch_with_backoff(sandbox, settings, caplog):
    settings.DISPATCH_RETRY_BASE_SECONDS = 30
    a, b = factories.create_message(sandbox), factories.create_message(sandbox)
    before = timezone.now()

    with mock.patch.object(SandboxConnector, "send_batch", side_effect=RuntimeError("provider down")):
        dispatch.dispatch_due()

    for msg in (a, b):
        msg.refresh_from_db()
        assert msg.status == Status.ACCEPTED
        assert msg.reason == "connector error: provider down"
        assert msg.attempts == 1
        assert msg.due_at >= before + timedelta(seconds=30)
    assert str(sandbox.id) in caplog.text and str(a.id) in caplog.text
    assert not SandboxSend.objects.exists()


def test_retries_back_off_exponentially_then_fail(sandbox, settings):
    settings.DISPATCH_MAX_ATTEMPTS = 3
    settings.DISPATCH_RETRY_BASE_SECONDS = 10
    msg = factories.create_message(sandbox)
    retry = [SendResult(msg.id, "retry", "busy")]
    delays = []
    with mock.patch.object(SandboxConnector, "send_batch", return_value=retry):
        for _ in range(3):
            now = timezone.now()
            dispatch.process(Message.objects.filter(id__in=dispatch.claim_batch(now=now + timedelta(hours=1))), now)
            msg.refresh_from_db()
            if msg.status == Status.ACCEPTED:
                delays.append(round((msg.due_at - now).total_seconds()))

    assert delays == [10, 20]
    assert (msg.status, msg.reason, msg.attempts) == (Status.SENDING_FAILED, "busy", 3)


def test_pending_stays_processing_and_wait_refunds_the_attempt(sandbox):
    pending, waiting = factories.create_message(sandbox), factories.create_message(sandbox)
    results = [SendResult(pending.id, "pending"), SendResult(waiting.id, "wait", "no device online")]

    with mock.patch.object(SandboxConnector, "send_batch", return_value=results):
        dispatch.dispatch_due()

    pending.refresh_from_db()
    waiting.refresh_from_db()
    assert pending.status == Status.PROCESSING
    assert (waiting.status, waiting.reason, waiting.attempts) == (Status.ACCEPTED, "no device online", 0)
    assert waiting.due_at > timezone.now()


def test_failed_results_record_the_reason(sandbox):
    sandbox.settings = {"failure_rate": 1.0}
    sandbox.save()
    msg = factories.create_message(sandbox)

    dispatch.dispatch_due()

    msg.refresh_from_db()
    assert (msg.status, msg.reason) == (Status.SENDING_FAILED, "sandbox: simulated failure")
    assert events(msg) == ["processing", "sending_failed"]
    assert not SandboxSend.objects.exists()


def test_duplicate_unknown_and_missing_results_are_handled(sandbox):
    a, b = factories.create_message(sandbox), factories.create_message(sandbox)
    stranger = factories.create_message(sandbox, status=Status.CANCELED)
    results = [
        SendResult(str(a.id), "sent"),  # ids may come back as strings
        SendResult(a.id, "sending_failed", "late duplicate"),
        SendResult(stranger.id, "sent"),
    ]  # nothing for b

    with mock.patch.object(SandboxConnector, "send_batch", return_value=results):
        dispatch.dispatch_due()

    for m in (a, b, stranger):
        m.refresh_from_db()
    assert a.status == Status.SENT
    assert (b.status, b.reason) == (Status.ACCEPTED, "connector returned no result")
    assert stranger.status == Status.CANCELED


def test_late_or_duplicate_reports_never_move_a_message_back(sandbox):
    msg = factories.create_message(sandbox)
    dispatch.dispatch_due()
    msg.refresh_from_db()
    assert msg.status == Status.DELIVERED

    channel = msg.channel
    dispatch.record_results(channel, [msg], [SendResult(msg.id, "sent")], timezone.now())
    dispatch.record_results(channel, [msg], [SendResult(msg.id, "retry", "late")], timezone.now())
    assert not st.transition(msg, Status.SENDING_FAILED, reason="late")

    msg.refresh_from_db()
    assert msg.status == Status.DELIVERED
    assert events(msg) == ["processing", "sent", "delivered"]


def test_inactive_channels_and_incoming_messages_are_not_dispatched(workspace, sandbox):
    inactive = factories.create_channel(workspace, "sms", "sandbox", status="inactive")
    waiting = factories.create_message(inactive)
    incoming = factories.create_message(sandbox, direction="incoming")

    assert dispatch.dispatch_due() == 0

    waiting.refresh_from_db()
    incoming.refresh_from_db()
    assert waiting.status == Status.ACCEPTED
    assert incoming.status == Status.ACCEPTED
    assert not SandboxSend.objects.exists()


def test_the_budget_hands_over_to_a_new_task(sandbox, settings, monkeypatch):
    settings.DISPATCH_BATCH_SIZE = 10
    bulk_messages(sandbox, 30)
    queued = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda func, **kw: queued.append(func))

    handled = dispatch.dispatch_due(budget_seconds=0)

    assert handled == 10
    assert queued == ["messaging.tasks.dispatch_due"]
    assert Message.objects.filter(status=Status.ACCEPTED).count() == 20


def test_passing_through_statuses_records_each_step(sandbox):
    msg = factories.create_message(sandbox)
    assert st.transition_many([msg.id], Status.DELIVERED, via=[Status.SENT], actor="t") == [msg.id]
    assert events(msg) == ["sent", "delivered"]
    with pytest.raises(ValueError, match="delivered to sent"):
        st.transition_many([msg.id], Status.SENT, via=[Status.DELIVERED])


@pytest.fixture
def queued_tasks(monkeypatch):
    """A real (not inline) queue: tasks are recorded, not run; the flag-trust window applies."""
    queued = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda func, **kw: queued.append(func))
    monkeypatch.setattr(dispatch, "_sync_mode", lambda: False)
    return queued


def test_after_seeing_the_flag_set_a_process_does_not_read_it_again_for_a_while(
    sandbox, queued_tasks, settings, django_assert_num_queries
):
    settings.DISPATCH_FLAG_TRUST_MS = 1000
    assert dispatch.request_dispatch()  # queues the task, sets the flag
    assert not dispatch.request_dispatch()  # reads it: set
    with django_assert_num_queries(0):
        assert not dispatch.request_dispatch()  # trusted: no read
    assert queued_tasks == ["messaging.tasks.dispatch_due"]


def test_the_flag_is_read_again_once_the_window_is_over(sandbox, queued_tasks, settings, django_assert_num_queries):
    settings.DISPATCH_FLAG_TRUST_MS = 250  # trusted for 50 ms (less the 200 ms margin)
    assert dispatch.request_dispatch()
    assert not dispatch.request_dispatch()
    time.sleep(0.1)
    with django_assert_num_queries(1):
        assert not dispatch.request_dispatch()


def test_a_dispatcher_out_of_work_keeps_claiming_through_the_window(sandbox, queued_tasks, settings, monkeypatch):
    """A message committed by a process that trusted the flag after the dispatcher cleared
    it (and so queued nothing) is still claimed: the dispatcher keeps claiming for the
    window before it stops. With no window, the same message waits for the sweeper."""
    settings.DISPATCH_LINGER_MS = 50

    def run(trust_ms: int) -> tuple[int, Message]:
        settings.DISPATCH_FLAG_TRUST_MS = trust_ms
        late = []

        def sleep(seconds):  # the first pause after the flag is cleared: a send commits
            if not late:
                late.append(factories.create_message(sandbox))

        monkeypatch.setattr(dispatch.time, "sleep", sleep)
        handled = dispatch.dispatch_due()
        if not late:  # no pause at all: the send commits right after the dispatcher stopped
            late.append(factories.create_message(sandbox))
        late[0].refresh_from_db()
        return handled, late[0]

    handled, message = run(1000)
    assert handled == 1 and message.status == Status.DELIVERED
    handled, message = run(0)
    assert handled == 0 and message.status == Status.ACCEPTED
