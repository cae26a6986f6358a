"""Sending through a fleet of phones: waiting for a device, load sharing, take-over,
retries on another device, and never sending twice."""

import json
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.utils import timezone

from messaging.engine import codec, routing
from messaging.models import EngineRequest, Message, MessageEvent, Status
from messaging.services import dispatch
from tests.engine.conftest import outgoing
from tests.engine.device import Device, until

pytestmark = pytest.mark.django_db(transaction=True)

db = database_sync_to_async


def run(coro_fn):
    return async_to_sync(coro_fn)()


def statuses(messages) -> list[str]:
    return [Message.objects.get(pk=m.pk).status for m in messages]


def all_in(messages, status: str):
    return lambda: all(s == status for s in statuses(messages))


async def online(token: str, endpoint) -> Device:
    device = Device(token)
    assert await device.connect()
    await device.ready(endpoint)
    return device


def test_messages_wait_for_a_device_and_go_out_when_one_grants_send_permission(engine_channel, phone):
    endpoint, token = phone
    messages = outgoing(engine_channel, 2, number="+15551234567")
    dispatch.dispatch_due()
    for m in messages:
        m.refresh_from_db()
        assert (m.status, m.reason, m.attempts) == (Status.ACCEPTED, "no_device_available", 0)

    async def scenario():
        device = Device(token)
        await device.connect()
        await device.send(codec.endpoint_state("CONNECTED", "OFF", "ON"))  # no send permission yet
        assert await device.silent()
        await device.send(codec.endpoint_state("CONNECTED", "ON", "ON"))
        frames = await device.recv_all(2)
        assert {f.action for f in frames} == {"SendMessage"}
        assert sorted(f.payload["message"] for f in frames) == ["hello 0", "hello 1"]
        assert json.loads(frames[0].payload["recipients"]) == {
            "recipients": [{"address": "+15551234567", "addressType": "PhoneNumberAddress"}]
        }
        await until(all_in(messages, Status.PROCESSING))
        for frame in frames:
            await device.send(codec.send_message_succeeded(frame.payload["token"]))
        await until(all_in(messages, Status.SENT), what="sent")
        await device.close()

    run(scenario)
    for m in messages:
        m.refresh_from_db()
        assert m.endpoint_id == endpoint.id
    assert set(EngineRequest.objects.filter(action="SendMessage").values_list("outcome", flat=True)) == {"succeeded"}


def test_the_load_is_spread_across_two_devices(engine_channel, phone, phone_b):
    messages = []  # created once both phones are online, so neither takes them all

    async def scenario():
        a = await online(phone[1], phone[0])
        b = await online(phone_b[1], phone_b[0])
        messages.extend(await db(outgoing)(engine_channel, 10))
        await db(dispatch.dispatch_due)()
        frames_a, frames_b = await a.recv_all(5), await b.recv_all(5)
        assert await a.silent() and await b.silent()
        for device, frames in ((a, frames_a), (b, frames_b)):
            for frame in frames:
                await device.send(codec.send_message_succeeded(frame.payload["token"]))
        await until(all_in(messages, Status.SENT), what="all sent")
        await a.close()
        await b.close()

    run(scenario)
    per_device = {
        e.id: EngineRequest.objects.filter(endpoint=e, outcome="succeeded").count() for e in (phone[0], phone_b[0])
    }
    assert sorted(per_device.values()) == [5, 5]


def test_a_device_leaving_mid_send_hands_its_messages_to_the_other(engine_channel, phone, phone_b):
    messages = []  # created once both phones are online, so neither takes them all

    async def scenario():
        a = await online(phone[1], phone[0])
        b = await online(phone_b[1], phone_b[0])
        messages.extend(await db(outgoing)(engine_channel, 6))
        await db(dispatch.dispatch_due)()
        await a.recv_all(3)  # A never answers
        first = await b.recv_all(3)
        await a.close()
        moved = await b.recv_all(3)  # A's three come to B
        assert {f.payload["message"] for f in first + moved} == {f"hello {i}" for i in range(6)}
        for frame in first + moved:
            await b.send(codec.send_message_succeeded(frame.payload["token"]))
        await until(all_in(messages, Status.SENT), what="all sent")
        await b.close()

    run(scenario)
    assert not Message.objects.filter(pk__in=[m.pk for m in messages]).exclude(endpoint=phone_b[0]).exists()
    assert EngineRequest.objects.filter(endpoint=phone[0], outcome=routing.DISCONNECTED).count() == 3
    assert MessageEvent.objects.filter(status=Status.ACCEPTED, reason__startswith="device_disconnected").count() == 3


def test_no_connectivity_is_retried_on_another_device_then_fails_after_max_attempts(engine_channel, phone, phone_b):
    box = []

    async def scenario():
        a = await online(phone[1], phone[0])
        b = await online(phone_b[1], phone_b[0])
        box.extend(await db(outgoing)(engine_channel, 1))
        message = box[0]
        await db(dispatch.dispatch_due)()
        devices = []
        for _ in range(3):  # DISPATCH_MAX_ATTEMPTS
            frame, device = await first_frame(a, b)
            devices.append(device)
            await device.send(codec.send_message_failed(frame.payload["token"], "NO_CONNECTIVITY", "no signal"))
            token = frame.payload["token"]
            await until(lambda t=token: EngineRequest.objects.filter(token=t).exclude(answered_at=None).exists())
        assert devices[0] is not devices[1], "the retry must go to the other device"
        await until(lambda: Message.objects.get(pk=message.pk).status == Status.SENDING_FAILED)
        assert await a.silent() and await b.silent()
        await a.close()
        await b.close()

    run(scenario)
    [message] = box
    message.refresh_from_db()
    assert message.reason == "NO_CONNECTIVITY: no signal"
    assert message.attempts == 3


async def first_frame(*devices: Device, timeout: float = 3):
    """The next frame any of the devices receives, and which one got it."""
    deadline = timeout
    while deadline > 0:
        for device in devices:
            if not await device.comm.receive_nothing(timeout=0.05):
                return await device.recv(), device
        deadline -= 0.05 * len(devices)
    raise AssertionError("no device received a frame")


@pytest.mark.parametrize("code", ["GENERIC_FAILURE", "NO_PERMISSION"])
def test_other_failures_fail_at_once(engine_channel, phone, code):
    [message] = outgoing(engine_channel, 1)

    async def scenario():
        device = await online(phone[1], phone[0])
        await db(dispatch.dispatch_due)()
        frame = await device.recv()
        await device.send(codec.send_message_failed(frame.payload["token"], code, "radio off"))
        await until(lambda: Message.objects.get(pk=message.pk).status == Status.SENDING_FAILED)
        assert await device.silent()
        await device.close()

    run(scenario)
    message.refresh_from_db()
    assert (message.reason, message.attempts) == (f"{code}: radio off", 1)


def expire_now() -> int:
    EngineRequest.objects.filter(answered_at=None).update(expires_at=timezone.now() - timedelta(seconds=1))
    return routing.expire_device_requests()


def test_a_late_success_after_rerouting_neither_moves_back_nor_sends_twice(engine_channel, phone, phone_b):
    box = []

    async def scenario():
        a = await online(phone[1], phone[0])
        b = await online(phone_b[1], phone_b[0])
        box.extend(await db(outgoing)(engine_channel, 1))
        message = box[0]
        await db(dispatch.dispatch_due)()
        slow_frame, slow = await first_frame(a, b)
        other = b if slow is a else a
        assert await db(expire_now)() == 1  # no answer in time: re-routed to the other phone
        retry_frame = await other.recv()
        await slow.send(codec.send_message_succeeded(slow_frame.payload["token"]))  # the late success
        await until(lambda: Message.objects.get(pk=message.pk).status == Status.SENT)
        await other.send(codec.send_message_succeeded(retry_frame.payload["token"]))
        await until(lambda: EngineRequest.objects.filter(outcome="succeeded").count() == 2)
        await db(dispatch.dispatch_due)()
        assert await a.silent() and await b.silent()
        await a.close()
        await b.close()

    run(scenario)
    [message] = box
    message.refresh_from_db()
    assert message.status == Status.SENT
    assert list(MessageEvent.objects.filter(message=message, status=Status.SENT).values_list("status", flat=True)) == [
        "sent"
    ]


def test_a_late_success_while_requeued_stops_the_resend(engine_channel, phone):
    [message] = outgoing(engine_channel, 1)

    async def scenario():
        device = await online(phone[1], phone[0])
        await db(dispatch.dispatch_due)()
        frame = await device.recv()
        await device.close()  # gone before answering: the message waits for a device
        await until(lambda: Message.objects.get(pk=message.pk).reason == routing.NO_DEVICE)
        device = Device(phone[1])
        await device.connect()
        await device.send(codec.send_message_succeeded(frame.payload["token"]))  # it did send it after all
        await until(lambda: Message.objects.get(pk=message.pk).status == Status.SENT)
        await device.ready(phone[0])  # can send again: nothing must go out
        await db(dispatch.dispatch_due)()
        assert await device.silent(), "a message a phone reported sent is never sent again"
        await device.close()

    run(scenario)
    assert EngineRequest.objects.filter(message=message).count() == 1


def test_a_timeout_fails_the_message_when_attempts_are_used_up(engine_channel, phone, settings):
    settings.DISPATCH_MAX_ATTEMPTS = 1
    [message] = outgoing(engine_channel, 1)

    async def scenario():
        device = await online(phone[1], phone[0])
        await db(dispatch.dispatch_due)()
        await device.recv()
        assert await db(expire_now)() == 1
        await device.close()

    run(scenario)
    message.refresh_from_db()
    assert message.status == Status.SENDING_FAILED
    assert message.reason.startswith("timeout")


def test_a_reply_from_another_device_or_a_repeat_is_ignored(engine_channel, phone, phone_b):
    [message] = outgoing(engine_channel, 1)

    async def scenario():
        a = await online(phone[1], phone[0])
        await db(dispatch.dispatch_due)()
        frame = await a.recv()
        b = Device(phone_b[1])
        await b.connect()
        await b.send(codec.send_message_failed(frame.payload["token"], "GENERIC_FAILURE"))  # not B's request
        await a.send(codec.send_message_succeeded(frame.payload["token"]))
        await until(lambda: Message.objects.get(pk=message.pk).status == Status.SENT)
        await a.send(codec.send_message_failed(frame.payload["token"], "GENERIC_FAILURE"))  # stale
        assert await a.silent()
        await a.close()
        await b.close()

    run(scenario)
    message.refresh_from_db()
    assert message.status == Status.SENT
    assert EngineRequest.objects.get(message=message).outcome == "succeeded"


def test_the_rate_limit_holds_back_the_excess(engine_channel, phone):
    engine_channel.settings = {"rate_limit_per_minute": 2}
    engine_channel.save()
    messages = outgoing(engine_channel, 3)

    async def scenario():
        device = await online(phone[1], phone[0])
        await db(dispatch.dispatch_due)()
        await device.recv_all(2)
        assert await device.silent()
        assert sorted(await db(statuses)(messages)) == [Status.ACCEPTED, Status.PROCESSING, Status.PROCESSING]
        waiting = Message.objects.filter(status=Status.ACCEPTED, reason=routing.RATE_LIMITED)
        assert await db(waiting.count)() == 1
        await device.close()

    run(scenario)


def test_a_send_made_by_another_process_reaches_the_phone_through_the_pump(engine_channel, phone, monkeypatch):
    """The worker (another process, in-memory layer) cannot push to daphne's sockets: it
    leaves the request unsent in the database and the socket's process delivers it."""
    from messaging.engine import pump

    endpoint, token = phone
    box = []

    async def scenario():
        device = await online(token, endpoint)
        with monkeypatch.context() as m:
            m.setattr(pump, "can_push", lambda endpoint_id: False)  # as seen from the worker
            box.extend(await db(outgoing)(engine_channel, 3))
            await db(dispatch.dispatch_due)()
        frames = await device.recv_all(3)
        for frame in frames:
            await device.send(codec.send_message_succeeded(frame.payload["token"]))
        await until(all_in(box, Status.SENT), what="sent")
        assert await device.silent()  # each once
        await device.close()

    run(scenario)
    assert EngineRequest.objects.filter(sent_at=None).count() == 0
