"""messaging.services.receive: storing what contacts send us."""

from datetime import timedelta

import pytest
from django.utils import timezone

from messaging import bot
from messaging.errors import ValidationFailed
from messaging.models import (
    Contact,
    ContactIdentifier,
    Conversation,
    Direction,
    Message,
    MessageEvent,
    Status,
)
from messaging.services import dispatch
from messaging.services.receive import receive_message
from messaging.signals import message_received
from tests import factories

PHONE = "+14155552671"


def text(value: str) -> dict:
    return {"type": "text", "text": {"text": value}}


# Replies wake the dispatcher; these tests look at what was queued, not at delivery.
pytestmark = pytest.mark.usefixtures("dispatches")


@pytest.fixture
def receive(django_capture_on_commit_callbacks):
    """receive_message, with the on-commit work (publishing, bot replies) run as in production."""

    def call(channel, value=PHONE, body="hello", key="phonenumber", **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return receive_message(
                channel, key, value, text(body) if isinstance(body, str) else body, **kwargs
            )

    return call


@pytest.fixture
def published():
    ids: list = []

    def listener(sender, message_ids, **kwargs):
        ids.extend(message_ids)

    message_received.connect(listener, weak=False)
    yield ids
    message_received.disconnect(listener)


def test_it_stores_an_incoming_delivered_message_with_its_sender(receive, sms_channel):
    message = receive(sms_channel, body="hi there", reference="ref-1")
    stored = Message.objects.get(pk=message.pk)
    contact = Contact.objects.get(identifiers__value=PHONE)
    assert stored.direction == Direction.INCOMING
    assert stored.status == Status.DELIVERED
    assert stored.text == "hi there"
    assert stored.reference == "ref-1"
    assert stored.sender == {
        "identifierKey": "phonenumber",
        "identifierValue": PHONE,
        "contactId": str(contact.id),
    }
    assert stored.contact == contact
    assert list(stored.contacts.all()) == [contact]
    assert list(MessageEvent.objects.filter(message=stored).values_list("status", flat=True)) == ["delivered"]


def test_it_stores_once_per_external_id(receive, sms_channel, published):
    first = receive(sms_channel, body="once", external_id="dev-42")
    again = receive(sms_channel, body="once", external_id="dev-42")
    assert again.pk == first.pk
    assert Message.objects.filter(direction=Direction.INCOMING).count() == 1
    assert MessageEvent.objects.count() == 1
    assert Conversation.objects.get().unread_count == 1
    assert published == [first.pk]


def test_the_same_external_id_on_another_channel_is_another_message(receive, workspace, sms_channel):
    other = factories.create_channel(workspace, "sms", "sandbox", name="SMS 2")
    a = receive(sms_channel, external_id="dev-42")
    b = receive(other, external_id="dev-42")
    assert a.pk != b.pk
    assert Message.objects.filter(direction=Direction.INCOMING).count() == 2


def test_messages_without_external_id_are_never_deduplicated(receive, sms_channel):
    receive(sms_channel, body="same")
    receive(sms_channel, body="same")
    assert Message.objects.filter(direction=Direction.INCOMING).count() == 2


def test_it_creates_the_contact_on_first_contact_with_an_e164_number(receive, sms_channel):
    first = receive(sms_channel, value="(415) 555-2671")
    assert first.sender["identifierValue"] == "+14155552671"
    assert list(ContactIdentifier.objects.values_list("key", "value")) == [("phonenumber", "+14155552671")]
    second = receive(sms_channel, value="+1 415 555 2671")
    assert second.contact_id == first.contact_id
    assert Contact.objects.count() == 1


def test_it_uses_the_existing_contact_and_normalises_emails(receive, workspace, email_channel):
    contact = factories.create_contact(workspace, email="ann@example.com")
    message = receive(email_channel, key="emailaddress", value="Ann@Example.COM")
    assert message.contact_id == contact.id
    assert message.sender["identifierValue"] == "ann@example.com"
    assert Contact.objects.count() == 1


def test_it_keeps_one_conversation_per_contact_and_counts_unread(receive, sms_channel):
    first = receive(sms_channel, body="one")
    before = Conversation.objects.get().updated_at
    later = timezone.now() + timedelta(seconds=5)
    second = receive(sms_channel, body="two", at=later)
    conversation = Conversation.objects.get()
    assert first.conversation_id == second.conversation_id == conversation.id
    assert conversation.unread_count == 2
    assert conversation.updated_at == later > before
    assert list(conversation.participants.values_list("identifiers__value", flat=True)) == [PHONE]
    assert conversation.channel == sms_channel


def test_other_contacts_get_their_own_conversation(receive, sms_channel):
    a = receive(sms_channel, value=PHONE)
    b = receive(sms_channel, value="+12025550143")
    assert a.conversation_id != b.conversation_id
    assert Conversation.objects.count() == 2


def test_it_files_the_message_in_a_given_conversation(receive, workspace, sms_channel):
    given = Conversation.objects.create(workspace=workspace, channel=sms_channel, external_id="thread-7")
    message = receive(sms_channel, conversation=given)
    given.refresh_from_db()
    assert Message.objects.get(pk=message.pk).conversation_id == given.id
    assert given.unread_count == 1
    assert given.participants.get().id == message.contact_id


def test_a_conversation_of_another_workspace_is_refused(receive, sms_channel, other_workspace):
    foreign = Conversation.objects.create(workspace=other_workspace)
    with pytest.raises(ValidationFailed) as exc:
        receive(sms_channel, conversation=foreign)
    assert "conversation" in exc.value.details
    assert not Message.objects.exists()


def test_it_records_the_reporting_endpoint(receive, sms_channel):
    endpoint, _ = factories.create_endpoint(sms_channel, name="Pixel")
    message = receive(sms_channel, endpoint=endpoint)
    assert Message.objects.get(pk=message.pk).endpoint == endpoint
    assert Conversation.objects.get().endpoint == endpoint


@pytest.mark.parametrize(
    ("key", "value", "field"),
    [
        ("phonenumber", "not a number", "sender.identifierValue"),
        ("phonenumber", "", "sender.identifierValue"),
        ("fax", "123", "sender.identifierKey"),
    ],
)
def test_a_bad_sender_names_the_field(receive, sms_channel, key, value, field):
    with pytest.raises(ValidationFailed) as exc:
        receive(sms_channel, key=key, value=value)
    assert field in exc.value.details
    assert not Message.objects.exists()
    assert not Contact.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"), [({}, "body"), ({"text": {}}, "body.type"), ({"type": "image"}, "body.image")]
)
def test_a_bad_body_names_the_field(receive, sms_channel, body, field):
    with pytest.raises(ValidationFailed) as exc:
        receive(sms_channel, body=body)
    assert field in exc.value.details
    assert not Message.objects.exists()


def test_it_publishes_the_message_on_commit(sms_channel, published, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        message = receive_message(sms_channel, "phonenumber", PHONE, text("hi"))
        assert published == []  # nothing before commit
    for callback in callbacks:
        callback()
    assert published == [message.pk]


def test_a_failing_bot_never_loses_the_message(receive, sms_channel, published, monkeypatch):
    def broken(message, contact):
        raise RuntimeError("bot bug")

    monkeypatch.setattr(bot, "handle", broken)
    message = receive(sms_channel, body="STOP")
    assert Message.objects.filter(pk=message.pk, direction=Direction.INCOMING).exists()
    assert published == [message.pk]
    assert Contact.objects.get().opt_outs == []


def test_a_failing_reply_never_loses_the_message(receive, sms_channel, published, monkeypatch):
    from messaging.services import send

    def broken(*args, **kwargs):
        raise RuntimeError("connector down")

    monkeypatch.setattr(send, "send_text", broken)
    monkeypatch.setattr(send, "accept_message", broken)
    message = receive(sms_channel, body="STOP")
    assert Message.objects.filter(pk=message.pk).exists()
    assert Contact.objects.get().opt_outs == ["sms"]
    assert published == [message.pk]
    assert not Message.objects.filter(direction=Direction.OUTGOING).exists()


@pytest.mark.django_db(transaction=True)
def test_a_report_racing_itself_is_stored_once(monkeypatch):
    """Two workers handling the same device report at once end with one message."""
    import threading

    from django.db import connection

    monkeypatch.setattr(dispatch, "request_dispatch", lambda *a, **k: None)
    workspace = factories.create_workspace("Race")
    channel = factories.create_channel(workspace, name="SMS")
    barrier = threading.Barrier(2)
    results: list = []

    def worker():
        try:
            barrier.wait(timeout=10)
            results.append(
                receive_message(channel, "phonenumber", PHONE, text("once"), external_id="dev-1").pk
            )
        except Exception as exc:  # surfaced by the assertion below
            results.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(results) == 2 and results[0] == results[1], results
    assert Message.objects.filter(channel=channel, direction=Direction.INCOMING).count() == 1
    assert Contact.objects.filter(workspace=workspace).count() == 1
    assert Conversation.objects.get(channel=channel).unread_count == 1
