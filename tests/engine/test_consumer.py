"""/ws/engine/ sessions: who may connect, device state, and frames that must be ignored."""

import json

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.test import Client

from messaging import signals
from messaging.engine import codec
from messaging.models import MessagingEndpoint
from tests import factories
from tests.engine.device import Device, until

pytestmark = pytest.mark.django_db(transaction=True)  # on_commit must really fire


def run(coro_fn):
    return async_to_sync(coro_fn)()


def test_it_accepts_a_bearer_token_without_origin_and_marks_the_device_connected(phone):
    endpoint, token = phone

    async def scenario():
        device = Device(token)
        assert await device.connect()
        await database_sync_to_async(endpoint.refresh_from_db)()
        assert endpoint.connected and endpoint.channel_name and endpoint.last_seen_at
        await device.close()
        await until(lambda: not MessagingEndpoint.objects.get(pk=endpoint.pk).connected, what="disconnected")

    run(scenario)


def test_it_accepts_the_token_in_the_query_string(phone):
    _, token = phone

    async def scenario():
        device = Device(None, path=f"/ws/engine/?token={token}")
        assert await device.connect()
        await device.close()

    run(scenario)


@pytest.mark.parametrize("token", [None, "", "sbd_wrong-token-wrong-token-wrong", "short"])
def test_it_refuses_the_handshake_without_a_valid_token(phone, token):
    async def scenario():
        device = Device(token)
        assert not await device.connect()

    run(scenario)


def test_it_refuses_a_token_of_a_non_engine_channel(workspace):
    sandbox = factories.create_channel(workspace, "sms", "sandbox")
    _, token = factories.create_endpoint(sandbox)

    async def scenario():
        assert not await Device(token).connect()

    run(scenario)


def test_it_allows_a_matching_origin_and_refuses_a_foreign_one(phone):
    _, token = phone

    async def scenario():
        ok = Device(token, headers=[(b"origin", b"http://localhost:8000")])
        assert await ok.connect()
        await ok.close()
        foreign = Device(token, headers=[(b"origin", b"https://evil.example")])
        assert not await foreign.connect()

    run(scenario)


def test_the_device_rule_does_not_leak_to_the_browser_socket(workspace):
    """/ws/live/ with a session cookie still needs a matching Origin (ws_security)."""
    client = Client()
    client.force_login(factories.create_user(workspace=workspace))
    cookie = (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())

    async def scenario():
        assert not await Device(None, headers=[cookie], path="/ws/live/").connect()
        browser = Device(None, headers=[cookie, (b"origin", b"http://testserver")], path="/ws/live/")
        assert await browser.connect()
        await browser.close()

    run(scenario)


def test_it_stores_the_reported_state_and_publishes_it(phone):
    endpoint, token = phone
    heard = []

    def listener(states, **kwargs):
        heard.extend(states)

    signals.endpoint_state_changed.connect(listener, dispatch_uid="test-engine-state")
    try:

        async def scenario():
            device = Device(token)
            await device.connect()
            await device.send(codec.endpoint_state("CONNECTED", "ON", "OFF"))
            await until(lambda: MessagingEndpoint.objects.get(pk=endpoint.pk).send_permission == "ON")
            await until(lambda: any(s.send_permission == "ON" for s in heard), what="endpoint_state_changed")
            await device.close()

        run(scenario)
    finally:
        signals.endpoint_state_changed.disconnect(dispatch_uid="test-engine-state")
    endpoint.refresh_from_db()
    assert (endpoint.send_permission, endpoint.read_permission) == ("ON", "OFF")
    assert endpoint.connection_state == "DISCONNECTED" and not endpoint.connected
    last = heard[-1]
    assert (last.endpoint_id, last.channel_id, last.workspace_id) == (endpoint.id, endpoint.channel_id, endpoint.channel.workspace_id)
    assert last.connection_state == "DISCONNECTED"  # the socket closed
    assert any(s.connection_state == "CONNECTED" and s.read_permission == "OFF" for s in heard)


BAD_FRAMES = {
    "invalid JSON": "{nope",
    "wrong version": codec.endpoint_state().replace('"4.0"', '"3.1"'),
    "wrong messageType": codec.endpoint_state().replace('"Publish"', '"Request"'),
    "wrong topic": codec.endpoint_state().replace('"Messaging"', '"Telephony"'),
    "unknown action": codec.endpoint_state().replace("UpdateMessagingEndpointState", "FormatDisk"),
    "server action from device": codec.upload_conversations("t"),
    "missing payload field": json.dumps(
        {**json.loads(codec.endpoint_state()), "payload": {"connectionState": "CONNECTED", "sendPermission": "ON"}}
    ),
    "bad enum": codec.endpoint_state().replace('"sendPermission":"ON"', '"sendPermission":"YES"'),
    "oversized": codec.conversations_report([{"id": "c", "junk": "x" * (600 * 1024)}]),
    "bad conversations string": codec.encode("ConversationsReport", {"token": "", "conversations": "{"}),
    "unknown token": codec.send_message_succeeded("no-such-token"),
}


@pytest.mark.parametrize("kind", list(BAD_FRAMES))
def test_a_bad_frame_is_ignored_and_the_session_stays_healthy(phone, kind, caplog):
    endpoint, token = phone

    async def scenario():
        device = Device(token)
        await device.connect()
        await device.send(BAD_FRAMES[kind])
        assert await device.silent(), "the server must answer a bad frame with nothing"
        # still alive: a good frame afterwards is processed
        await device.send(codec.endpoint_state("CONNECTED", "ON", "ON"))
        await until(lambda: MessagingEndpoint.objects.get(pk=endpoint.pk).read_permission == "ON")
        await device.close()

    run(scenario)
    assert str(endpoint.id) in caplog.text  # logged with the device id


def test_binary_frames_are_decoded_too(phone):
    endpoint, token = phone

    async def scenario():
        device = Device(token)
        await device.connect()
        await device.comm.send_to(bytes_data=codec.endpoint_state("CONNECTED", "ON", "ON").encode())
        await until(lambda: MessagingEndpoint.objects.get(pk=endpoint.pk).send_permission == "ON")
        await device.close()

    run(scenario)


def test_a_reconnecting_phone_replaces_its_old_session(phone):
    endpoint, token = phone

    async def scenario():
        old = Device(token)
        await old.connect()
        new = Device(token)
        await new.connect()
        output = await old.comm.receive_output(timeout=2)
        assert output == {"type": "websocket.close", "code": 4001}
        await old.close()
        await database_sync_to_async(endpoint.refresh_from_db)()
        assert endpoint.connected, "the old session closing must not mark the new one gone"
        await new.close()

    run(scenario)
