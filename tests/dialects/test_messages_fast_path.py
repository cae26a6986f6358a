"""The send endpoint's lean path: plain requests skip the request serializer, and the message
resource is built directly. Both must be invisible to clients: same answers, same errors."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from messaging.dialects.channels_api import messages_serializers as s
from messaging.models import Conversation, Message, Tag
from messaging.services import send
from tests import factories
from tests.dialects.test_messages_send import field_error, send_url, sms


@pytest.fixture
def client(api, sender_key):
    return api.key(sender_key)


# --- the message resource -----------------------------------------------------------------------


def messages_of_every_shape(channel, workspace) -> list[Message]:
    contact = factories.create_contact(workspace, phone="+12015550123")
    plain = factories.create_message(channel, contact)
    tagged = send.accept_message(
        workspace,
        channel,
        sms(
            "Sale!",
            tags=["Promo", "spring"],
            meta={"extraInformation": {"useCase": "marketing"}, "x": None},
            scheduledFor=(timezone.now() + timedelta(hours=2)).isoformat(),
            shortLinks={"enabled": True, "domain": "sho.rt"},
            reference="ref-1",
            priority=1,
        ),
    )
    conversation = Conversation.objects.create(workspace=workspace, channel=channel)
    incoming = factories.create_message(
        channel, contact, direction="incoming", read=True, conversation=conversation, sender={"name": "Ann"}
    )
    incoming.reason = "carrier said so"
    incoming.expires_at = None
    incoming.template_info = {"id": str(uuid.uuid4()), "name": "t", "locale": "en", "version": 2, "parameters": []}
    incoming.save()
    no_channel = factories.create_message(channel, contact)
    no_channel.channel = None
    return [plain, tagged, incoming, no_channel]


def test_the_built_resource_equals_what_the_declared_fields_produce(db, sms_channel, workspace):
    for message in messages_of_every_shape(sms_channel, workspace):
        fresh = Message.objects.prefetch_related("tags").get(pk=message.pk) if message.channel else message
        serializer = s.MessageSerializer()
        assert serializer.to_representation(fresh) == serializer.field_representation(fresh)


def test_the_built_resource_keeps_every_field_of_the_schema(db, sms_channel, workspace):
    message = messages_of_every_shape(sms_channel, workspace)[1]
    data = s.MessageSerializer(message).data
    assert list(data) == list(s.MessageSerializer().fields)
    assert data["tags"] == ["promo", "spring"]
    assert data["scheduledFor"].endswith("Z")
    assert data["status"] == "scheduled"


# --- plain requests ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        sms("hi"),
        sms("hi", reference="r", tags=["a"], meta={"k": 1}, scheduledFor="2030-01-01T00:00:00Z"),
        {"receiver": {"contacts": [{"id": str(uuid.uuid4())}]}, "body": {"type": "text", "text": {"text": "x"}}},
    ],
)
def test_plain_requests_are_recognised(data):
    assert s.is_plain_request(data)


@pytest.mark.parametrize(
    "data",
    [
        sms("hi", reference=" padded "),  # the serializer trims it
        sms("hi", reference=7),  # the serializer turns it into "7"
        sms("hi", priority="1"),  # coerced by the serializer
        sms("hi", enableLinkTracking="true"),
        sms("hi", tags=[" a "]),
        sms("hi", to=" +12015550123"),
        sms("hi", to="x" * 321),
        {**sms("hi"), "template": {"name": "t"}},
        {**sms("hi"), "body": {"type": "text", "text": {"text": "x", "metadata": {"subject": " s "}}}},
        {**sms("hi"), "body": {"type": "html", "html": {"html": "<b>x</b>"}}},
        {**sms("hi"), "receiver": {"contacts": [{"identifierKey": "phonenumber"}]}},
        {**sms("hi"), "receiver": {"contacts": []}},
        {**sms("hi"), "receiver": {"contacts": [{"id": 5}]}},
        {**sms("hi"), "unknown": 1},
        ["not", "an", "object"],
    ],
)
def test_anything_the_serializer_would_change_or_check_differently_is_not_plain(data):
    assert not s.is_plain_request(data)


def test_a_plain_request_and_the_same_request_through_the_serializer_store_the_same_message(
    client, sms_channel
):
    data = sms("Your table is ready.", reference="table-7", tags=["Dinner"], meta={"extraInformation": {"useCase": "x"}})
    assert s.is_plain_request(data)
    plain = client.post(send_url(sms_channel), data, format="json").json()
    coerced = client.post(send_url(sms_channel), {**data, "priority": "2"}, format="json").json()
    differing = {k for k in plain if plain[k] != coerced[k]}
    assert differing == {"id", "lastStatusAt", "createdAt", "updatedAt", "expiresAt"}
    assert plain["tags"] == ["dinner"] and plain["priority"] == 2


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (sms("hi", to="not a number"), "receiver.contacts[0].identifierValue"),
        ({**sms("hi"), "receiver": {"contacts": [{"identifierKey": "fax", "identifierValue": "1"}]}},
         "receiver.contacts[0].identifierKey"),
        ({**sms("hi"), "receiver": {"contacts": [{"id": "nope"}]}}, "receiver.contacts[0].id"),
        (sms(""), "body.text.text"),
        (sms("hi", tags=["x"] * 3 + [f"t{i}" for i in range(10)]), "tags"),
        (sms("hi", scheduledFor="tomorrow"), "scheduledFor"),
        (sms("hi", reference="r" * 201), "reference"),
        (sms("hi", meta={"extraInformation": "marketing"}), "meta.extraInformation"),
    ],
)
def test_bad_plain_requests_name_the_field(client, sms_channel, data, field):
    assert s.is_plain_request(data)
    resp = client.post(send_url(sms_channel), data, format="json")
    assert field_error(resp, field)
    assert not Message.objects.exists()
    assert not Tag.objects.exists()
