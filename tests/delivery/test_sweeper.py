"""The sweeper: stale claims of dead workers, expired waits."""

from datetime import timedelta

from django.utils import timezone

from messaging.models import Message, SandboxSend, Status
from messaging.services import dispatch
from tests import factories


def claimed(channel, minutes_ago: int, attempts: int):
    msg = factories.create_message(channel)
    Message.objects.filter(id=msg.id).update(
        status=Status.PROCESSING,
        claimed_at=timezone.now() - timedelta(minutes=minutes_ago),
        claimed_by="dead-worker:1",
        attempts=attempts,
    )
    return msg


def test_a_stale_claim_is_requeued_and_sent_again(sandbox, settings):
    settings.DISPATCH_CLAIM_TIMEOUT = 300
    settings.DISPATCH_MAX_ATTEMPTS = 3
    stale = claimed(sandbox, minutes_ago=10, attempts=1)
    fresh = claimed(sandbox, minutes_ago=1, attempts=1)

    counts = dispatch.sweep()

    assert counts["requeued"] == 1
    stale.refresh_from_db()
    fresh.refresh_from_db()
    # sync mode: the sweeper's dispatch request ran at once and sent the requeued message
    assert (stale.status, stale.attempts) == (Status.DELIVERED, 2)
    assert fresh.status == Status.PROCESSING  # its worker may still be at it
    assert SandboxSend.objects.filter(message=stale).count() == 1


def test_a_stale_claim_out_of_attempts_fails_with_a_reason(sandbox, settings):
    settings.DISPATCH_MAX_ATTEMPTS = 3
    msg = claimed(sandbox, minutes_ago=60, attempts=3)

    assert dispatch.sweep()["failed"] == 1

    msg.refresh_from_db()
    assert (msg.status, msg.reason) == (Status.SENDING_FAILED, "worker lost (claim timed out)")


def test_waiting_messages_past_their_validity_expire(sandbox, workspace):
    paused = factories.create_channel(workspace, "sms", "sandbox", paused=True)
    past = timezone.now() - timedelta(seconds=1)
    waiting = factories.create_message(paused, expires_at=past)
    sched = factories.create_message(paused, status=Status.SCHEDULED, expires_at=past)
    valid = factories.create_message(paused, expires_at=timezone.now() + timedelta(hours=1))

    assert dispatch.sweep()["expired"] == 2

    for m in (waiting, sched, valid):
        m.refresh_from_db()
    assert (waiting.status, sched.status, valid.status) == (Status.EXPIRED, Status.EXPIRED, Status.ACCEPTED)
