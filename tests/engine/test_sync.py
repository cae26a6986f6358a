"""Conversation sync: UploadConversations on a schedule, reports stored once, mark-read
sent back to the phone that reported the messages."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.utils import timezone

from messaging.engine import codec, sync
from messaging.models import Conversation, Direction, EngineRequest, Message
from tests.engine.device import Device, until

pytestmark = pytest.mark.django_db(transaction=True)

db = database_sync_to_async


def run(coro_fn):
    return async_to_sync(coro_fn)()


def report(conversation_id="c1", sender="+14155550101", message_ids=("m1", "m2")) -> list[dict]:
    party = {"address": sender, "addressType": "PhoneNumberAddress"}
    return [
        {
            "id": conversation_id,
            "otherParticipants": [party],
            "messages": [
                {
                    "id": mid,
                    "payload": {"@type": "text", "text": f"text of {mid}"},
                    "status": "unread",
                    "createdTime": 1714557600000 + i,  # epoch milliseconds
                    "sender": party,
                }
                for i, mid in enumerate(message_ids)
            ],
            "unreadMessageCount": len(message_ids),
        }
    ]


def incoming():
    return Message.objects.filter(direction=Direction.INCOMING)


def test_a_report_sent_twice_is_stored_once(engine_channel, phone):
    endpoint, token = phone

    async def scenario():
        device = Device(token)
        await device.connect()
        await device.send(codec.conversations_report(report()))  # unsolicited: empty token
        await until(lambda: incoming().count() == 2, what="two messages stored")
        await device.send(codec.conversations_report(report()))
        await device.send(codec.conversations_report(report(message_ids=("m1", "m2", "m3"))))
        await until(lambda: incoming().count() == 3, what="the new message only")
        assert await device.silent()
        await device.close()

    run(scenario)
    conversation = Conversation.objects.get()
    assert conversation.external_id == f"{endpoint.id}:c1"
    assert conversation.endpoint_id == endpoint.id and conversation.channel_id == engine_channel.id
    assert conversation.unread_count == 3
    assert [c.identifiers.get().value for c in conversation.participants.all()] == ["+14155550101"]
    texts = sorted(incoming().values_list("external_id", "body", "conversation_id"))
    assert texts[0] == (f"{endpoint.id}:m1", {"type": "text", "text": {"text": "text of m1"}}, conversation.id)
    first = incoming().get(external_id=f"{endpoint.id}:m1")
    assert first.created_at == datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    assert first.sender["identifierValue"] == "+14155550101" and first.endpoint_id == endpoint.id


def test_two_phones_with_the_same_local_ids_do_not_collide(engine_channel, phone, phone_b):
    async def scenario():
        a, b = Device(phone[1]), Device(phone_b[1])
        await a.connect()
        await b.connect()
        await a.send(codec.conversations_report(report()))
        await b.send(codec.conversations_report(report(sender="+14155550102")))
        await until(lambda: incoming().count() == 4)
        await a.close()
        await b.close()

    run(scenario)
    assert Conversation.objects.count() == 2


def test_the_scheduled_sync_asks_devices_with_read_permission_once_per_interval(engine_channel, phone, phone_b):
    async def scenario():
        reader, blind = Device(phone[1]), Device(phone_b[1])
        await reader.connect()
        await reader.ready(phone[0], read="ON")
        await blind.connect()
        await blind.ready(phone_b[0], read="OFF")
        assert await db(sync.request_conversation_sync)() == 1
        frame = await reader.recv()
        assert frame.action == "UploadConversations" and frame.payload["token"]
        assert await blind.silent()
        assert await db(sync.request_conversation_sync)() == 0  # within sync_interval_seconds
        # the phone answers with its unread conversations, correlated by the token
        await reader.send(codec.conversations_report(report(), token=frame.payload["token"]))
        await until(lambda: EngineRequest.objects.filter(token=frame.payload["token"]).exclude(answered_at=None).exists())
        # an interval later it is asked again
        await db(EngineRequest.objects.update)(created_at=timezone.now() - timedelta(seconds=301))
        assert await db(sync.request_conversation_sync)() == 1
        assert (await reader.recv()).action == "UploadConversations"
        await reader.close()
        await blind.close()

    run(scenario)
    assert incoming().count() == 2
    assert EngineRequest.objects.filter(outcome="succeeded: 1 conversation(s)").count() == 1


def test_a_report_with_an_unknown_token_is_ignored(engine_channel, phone):
    async def scenario():
        device = Device(phone[1])
        await device.connect()
        await device.send(codec.conversations_report(report(), token="not-a-token"))
        assert await device.silent()
        await device.send(codec.conversations_report(report(conversation_id="c2", message_ids=("x",))))
        await until(lambda: incoming().count() == 1)  # the session goes on; only the good one is stored
        await device.close()

    run(scenario)
    assert list(incoming().values_list("external_id", flat=True)) == [f"{phone[0].id}:x"]


def test_a_sender_that_is_not_a_phone_number_skips_that_message_only(engine_channel, phone):
    bad = report(sender="not a number", message_ids=("b1",))
    good = report(conversation_id="c2", message_ids=("g1",))

    async def scenario():
        device = Device(phone[1])
        await device.connect()
        await device.send(codec.conversations_report(bad + good))
        await until(lambda: incoming().count() == 1)
        await device.close()

    run(scenario)
    assert incoming().get().external_id == f"{phone[0].id}:g1"


def test_mark_read_sends_update_messages_status_and_records_the_reply(engine_channel, phone):
    endpoint, token = phone

    async def scenario():
        device = Device(token)
        await device.connect()
        await device.ready(endpoint)
        await device.send(codec.conversations_report(report()))
        await until(lambda: incoming().count() == 2)
        conversation = await db(Conversation.objects.get)()
        assert await db(sync.mark_read)(conversation, actor="dashboard") == 2
        frame = await device.recv()
        assert frame.action == "UpdateMessagesStatus"
        assert frame.payload["conversationId"] == "c1"  # the phone's own ids
        assert sorted(json.loads(frame.payload["status"])["statusMap"]["read"]) == ["m1", "m2"]
        await device.send(codec.update_messages_status_succeeded(frame.payload["token"]))
        await until(lambda: EngineRequest.objects.filter(token=frame.payload["token"], outcome="succeeded").exists())
        await device.close()

    run(scenario)
    assert list(incoming().values_list("read", flat=True)) == [True, True]
    assert Conversation.objects.get().unread_count == 0
    request = EngineRequest.objects.get(action="UpdateMessagesStatus")
    assert request.answered_at is not None and request.endpoint_id == endpoint.id


def test_a_failed_status_update_is_recorded(engine_channel, phone):
    endpoint, token = phone

    async def scenario():
        device = Device(token)
        await device.connect()
        await device.ready(endpoint)
        await device.send(codec.conversations_report(report(message_ids=("m1",))))
        await until(lambda: incoming().count() == 1)
        assert await db(lambda: sync.mark_read(list(incoming())))() == 1
        frame = await device.recv()
        await device.send(codec.update_messages_status_failed(frame.payload["token"], "NO_PERMISSION", "read off"))
        await until(lambda: EngineRequest.objects.filter(outcome="NO_PERMISSION: read off").exists())
        await device.close()

    run(scenario)


def test_a_read_made_while_the_phone_is_away_is_sent_when_it_is_back(engine_channel, phone):
    endpoint, token = phone

    async def scenario():
        device = Device(token)
        await device.connect()
        await device.send(codec.conversations_report(report(message_ids=("m1",))))
        await until(lambda: incoming().count() == 1)
        await device.close()
        await until(lambda: not type(endpoint).objects.get(pk=endpoint.pk).connected)
        assert await db(lambda: sync.mark_read(Conversation.objects.get()))() == 1
        device = Device(token)
        await device.connect()
        frame = await device.recv()  # the pump delivers it once the phone is back
        assert frame.action == "UpdateMessagesStatus"
        assert json.loads(frame.payload["status"]) == {"statusMap": {"read": ["m1"]}}
        await device.close()

    run(scenario)
