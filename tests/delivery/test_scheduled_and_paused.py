"""Scheduled messages, cancel, paused channels, the timer, the schedules."""

from datetime import timedelta

from django.core.management import call_command
from django.utils import timezone
from django_q.models import Schedule

from messaging.models import DispatchSignal, Message, MessageEvent, SandboxSend, Status
from messaging.services import dispatch
from messaging.services import status as st
from tests import factories


def scheduled(channel, when, **kw):
    return factories.create_message(channel, status=Status.SCHEDULED, scheduled_for=when, due_at=when, **kw)


def test_a_scheduled_message_waits_and_goes_out_when_due(sandbox):
    now = timezone.now()
    msg = scheduled(sandbox, now + timedelta(minutes=30))

    assert dispatch.dispatch_due() == 0
    msg.refresh_from_db()
    assert msg.status == Status.SCHEDULED

    dispatch.process(dispatch._load(dispatch.claim_batch(now=now + timedelta(minutes=31))))
    msg.refresh_from_db()
    assert msg.status == Status.DELIVERED
    statuses = list(MessageEvent.objects.filter(message=msg).order_by("id").values_list("status", flat=True))
    assert statuses == ["processing", "sent", "delivered"]


def test_a_scheduled_message_without_due_at_uses_scheduled_for(sandbox):
    past = factories.create_message(sandbox, status=Status.SCHEDULED, scheduled_for=timezone.now() - timedelta(seconds=1))
    future = factories.create_message(sandbox, status=Status.SCHEDULED, scheduled_for=timezone.now() + timedelta(hours=1))

    assert dispatch.dispatch_due() == 1

    past.refresh_from_db()
    future.refresh_from_db()
    assert (past.status, future.status) == (Status.DELIVERED, Status.SCHEDULED)


def test_a_message_canceled_before_it_is_due_is_never_sent(sandbox):
    now = timezone.now()
    msg = scheduled(sandbox, now + timedelta(minutes=5))

    assert st.transition(msg, Status.CANCELED, reason="canceled by the sender")
    assert dispatch.claim_batch(now=now + timedelta(minutes=6)) == []

    msg.refresh_from_db()
    assert msg.status == Status.CANCELED
    assert not SandboxSend.objects.exists()


def test_next_due_at_and_the_sweeper_release_due_work(sandbox, monkeypatch):
    now = timezone.now()
    queued = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda func, **kw: queued.append(func))
    soon = scheduled(sandbox, now + timedelta(minutes=2))
    scheduled(sandbox, now + timedelta(minutes=9))

    assert dispatch.next_due_at(now) == soon.due_at
    assert dispatch.sweep(now)["dispatch"] is False  # nothing due yet
    assert dispatch.sweep(now + timedelta(minutes=3))["dispatch"] is True
    assert queued == ["messaging.tasks.dispatch_due"]


def test_the_timer_is_armed_once_and_moves_earlier(sandbox, monkeypatch, settings):
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", False)
    queued = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda func, **kw: queued.append(func))
    now = timezone.now()

    assert dispatch.arm_timer(now + timedelta(seconds=40), now) is True
    assert dispatch.arm_timer(now + timedelta(seconds=50), now) is False  # a later time waits its turn
    assert dispatch.arm_timer(now + timedelta(seconds=20), now) is False  # the sleeping task adapts
    assert dispatch.arm_timer(now + timedelta(hours=1), now) is False  # beyond the horizon: the sweeper's job

    assert queued == ["messaging.tasks.release_timer"]
    assert DispatchSignal.objects.get(name="timer").armed_for == now + timedelta(seconds=20)


def test_the_timer_fires_and_dispatches(sandbox, monkeypatch):
    msg = scheduled(sandbox, timezone.now() - timedelta(milliseconds=1))
    DispatchSignal.objects.create(name="timer", armed_for=msg.due_at, armed_at=timezone.now())

    assert dispatch.release_timer() == 1

    msg.refresh_from_db()
    assert msg.status == Status.DELIVERED
    assert DispatchSignal.objects.get(name="timer").armed_for is None
    assert dispatch.release_timer() == 0  # nothing armed: returns at once


def test_a_paused_channel_accepts_but_sends_nothing_until_resumed(sandbox, django_capture_on_commit_callbacks):
    dispatch.set_paused(sandbox, True)
    msg = factories.create_message(sandbox)

    dispatch.request_dispatch()
    msg.refresh_from_db()
    assert msg.status == Status.ACCEPTED
    assert not SandboxSend.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        dispatch.set_paused(sandbox, False)

    msg.refresh_from_db()
    assert msg.status == Status.DELIVERED
    assert SandboxSend.objects.filter(message=msg).count() == 1


def test_schedules_exist_after_migrate_and_setup_is_idempotent(db, capsys):
    names = set(dispatch.SCHEDULES)
    assert set(Schedule.objects.filter(name__in=names).values_list("func", flat=True)) == {
        "messaging.tasks.sweep",
        "messaging.tasks.release_due",
    }
    assert dispatch.ensure_schedules() == 0

    Schedule.objects.filter(name__in=names).delete()
    call_command("setup_schedules", "--json")
    assert '"created": 2' in capsys.readouterr().out
    call_command("setup_schedules", "--json")
    assert '"created": 0' in capsys.readouterr().out
    rows = Schedule.objects.filter(name__in=names)
    assert rows.count() == 2
    assert {(r.schedule_type, r.minutes, r.repeats) for r in rows} == {(Schedule.MINUTES, 1, -1)}


def test_many_scheduled_messages_need_no_schedule_row_each(sandbox):
    before = Schedule.objects.count()
    for _ in range(5):
        scheduled(sandbox, timezone.now() + timedelta(minutes=10))
    dispatch.dispatch_due()
    assert Schedule.objects.count() == before
    assert Message.objects.filter(status=Status.SCHEDULED).count() == 5
