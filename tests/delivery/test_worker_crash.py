"""A worker killed with SIGKILL mid-batch: the sweeper returns its claim, nothing is sent twice."""

import os
import signal
from datetime import timedelta

from django.db.models import Count
from django.utils import timezone

from messaging.models import Message, SandboxSend, Status
from messaging.services import dispatch
from tests import factories
from tests.delivery import procs
from tests.delivery.conftest import bulk_messages

WORKER = "from messaging.services import dispatch; dispatch.dispatch_due()"


def test_a_killed_worker_leaves_nothing_stuck_and_nothing_doubled(transactional_db, settings):
    settings.DISPATCH_MAX_ATTEMPTS = 3
    workspace = factories.create_workspace("Crash")
    channel = factories.create_channel(workspace, "sms", "sandbox", settings={"latency_ms": 1500})
    bulk_messages(channel, 20)
    # A one-off worker process: batches of 5, each "send" takes 1.5 s (Q_SYNC: no helpers, no timer).
    worker = procs.start(["shell", "-c", WORKER], DISPATCH_BATCH_SIZE="5", Q_SYNC="1")
    try:
        # Wait until the first batch was sent and the second one is claimed, then kill -9 mid-send.
        procs.wait_for(
            lambda: Message.objects.filter(status=Status.DELIVERED).count() == 5
            and Message.objects.filter(status=Status.PROCESSING).count() == 5,
            60,
            interval=0.05,
            proc=worker,
        )
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(10)
    finally:
        procs.stop(worker)

    stuck = set(Message.objects.filter(status=Status.PROCESSING).values_list("id", flat=True))
    assert len(stuck) == 5
    assert not SandboxSend.objects.filter(message_id__in=stuck).exists()

    # The sweeper, once the claim timed out, gives the stuck messages back; the next dispatch sends all.
    counts = dispatch.sweep(now=timezone.now() + timedelta(seconds=settings.DISPATCH_CLAIM_TIMEOUT + 1))
    assert counts["requeued"] == 5
    channel.settings = {"latency_ms": 0}
    channel.save()
    dispatch.dispatch_due()

    assert Message.objects.exclude(status=Status.DELIVERED).count() == 0
    per_message = dict(SandboxSend.objects.values_list("message_id").annotate(n=Count("id")))
    assert len(per_message) == 20
    assert set(per_message.values()) == {1}  # no message sent twice
    assert set(Message.objects.filter(id__in=stuck).values_list("attempts", flat=True)) == {2}
    assert set(SandboxSend.objects.filter(message_id__in=stuck).values_list("attempt", flat=True)) == {2}
    pairs = SandboxSend.objects.values("message_id", "attempt").annotate(n=Count("id"))
    assert {row["n"] for row in pairs} == {1}  # at most once per attempt
