import pytest

from messaging.models import Status
from tests import factories


@pytest.fixture(autouse=True)
def q_sync(monkeypatch):
    """django-q2 runs tasks inline, so request_dispatch() dispatches right away."""
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)


@pytest.fixture
def engine_channel(workspace):
    return factories.create_channel(workspace, "sms", "engine", name="Phones")


@pytest.fixture
def phone(engine_channel):
    """(endpoint, token) of the channel's first phone."""
    return factories.create_endpoint(engine_channel, name="phone A")


@pytest.fixture
def phone_b(engine_channel):
    return factories.create_endpoint(engine_channel, name="phone B")


def outgoing(channel, count: int = 1, number: str = "+15551230000", **fields):
    """Accepted outgoing SMS to `number` (receiver JSON as the send path writes it)."""
    contact = factories.create_contact(channel.workspace, phone=number)
    receiver = {"contacts": [{"id": str(contact.id), "identifierKey": "phonenumber", "identifierValue": number}]}
    fields.setdefault("status", Status.ACCEPTED)
    return [
        factories.create_message(channel, contact, text=f"hello {i}", receiver=receiver, **fields)
        for i in range(count)
    ]
