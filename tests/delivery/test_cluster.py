"""A real django-q2 cluster (`manage.py qcluster`) on the test database."""

from datetime import timedelta

import pytest
from django.db.models import Count
from django.utils import timezone

from messaging.models import Message, MessageEvent, SandboxSend, Status
from messaging.services import dispatch
from tests import factories
from tests.delivery import procs
from tests.delivery.conftest import bulk_messages


@pytest.fixture(autouse=True)
def q_sync(monkeypatch):
    """Tasks go to the broker, for the cluster to run."""
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", False)
    monkeypatch.setattr(Conf, "CLUSTER_NAME", procs.queue_name())


@pytest.fixture
def cluster(transactional_db):
    proc = procs.start_cluster(Q_WORKERS="2", DISPATCH_BATCH_SIZE="50")
    try:
        yield proc
    finally:
        procs.stop(proc)


def test_the_cluster_delivers_accepted_and_scheduled_messages(cluster):
    workspace = factories.create_workspace("Cluster")
    channel = factories.create_channel(workspace, "sms", "sandbox")
    bulk_messages(channel, 200)
    due = timezone.now() + timedelta(seconds=4)
    later = factories.create_message(channel, status=Status.SCHEDULED, scheduled_for=due, due_at=due)

    dispatch.request_dispatch()  # what the send path does on commit

    procs.wait_for(lambda: Message.objects.filter(status=Status.DELIVERED).count() == 200, 60, proc=cluster)
    # the dispatcher armed the timer for the scheduled one: no Schedule row, no minute-long wait
    procs.wait_for(lambda: Message.objects.filter(id=later.id, status=Status.DELIVERED).exists(), 30, proc=cluster)
    claimed_at = MessageEvent.objects.get(message=later, status=Status.PROCESSING).at
    assert due <= claimed_at < due + timedelta(seconds=3)
    assert not SandboxSend.objects.values("message_id").annotate(n=Count("id")).filter(n__gt=1).exists()
    assert Message.objects.exclude(status=Status.DELIVERED).count() == 0
