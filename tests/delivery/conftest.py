from datetime import timedelta

import pytest
from django.utils import timezone

from messaging.models import Message, Status
from tests import factories


@pytest.fixture(autouse=True)
def q_sync(monkeypatch):
    """django-q2 runs tasks inline (a real cluster is started only where a test says so)."""
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)


@pytest.fixture
def sandbox(workspace):
    return factories.create_channel(workspace, "sms", "sandbox", name="Sandbox SMS")


def bulk_messages(channel, count: int, contact=None, **fields) -> list[Message]:
    """Many outgoing messages in one INSERT (as the send path would leave them)."""
    now = timezone.now()
    fields.setdefault("status", Status.ACCEPTED)
    fields.setdefault("expires_at", now + timedelta(seconds=channel.default_validity))
    rows = [
        Message(
            workspace=channel.workspace,
            channel=channel,
            contact=contact,
            body={"type": "text", "text": {"text": f"hello {i}"}},
            validity=channel.default_validity,
            created_at=now + timedelta(microseconds=i),
            **fields,
        )
        for i in range(count)
    ]
    return Message.objects.bulk_create(rows, batch_size=500)
