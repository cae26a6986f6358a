"""/ws/app/: app users receive their new messages live (user-to-user and seed-002
appmessaging through the app connector) and report delivery and reads on the same socket."""

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from messaging.models import Message, MessageEvent, Status
from messaging.routing import websocket_application
from messaging.services import dispatch
from messaging.services.send import send_text
from tests import factories
from tests.dialects.user_api import Setup

pytestmark = pytest.mark.django_db(transaction=True)  # on_commit must really fire

QUIET = 0.3


def run(coro_fn):
    return async_to_sync(coro_fn)()


@pytest.fixture
def s(workspace):
    return Setup(workspace)


@pytest.fixture(autouse=True)
def no_dispatch_task(monkeypatch):
    """Tests push app-channel messages through the dispatcher themselves (dispatch_ids)."""
    monkeypatch.setattr(dispatch, "request_dispatch", lambda *a, **k: False)


def app_socket(token: str | None, path: str = "/ws/app/", headers: list | None = None) -> WebsocketCommunicator:
    headers = list(headers or [])
    if token:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    return WebsocketCommunicator(websocket_application, path, headers=headers)


async def connected(token: str, **kwargs) -> WebsocketCommunicator:
    comm = app_socket(token, **kwargs)
    ok, _ = await comm.connect()
    assert ok, "the app socket was refused"
    return comm


async def refused(token: str | None, **kwargs) -> bool:
    comm = app_socket(token, **kwargs)
    ok, _ = await comm.connect()
    await comm.disconnect()
    return not ok


@database_sync_to_async
def rest(api, resource, fields):
    response = api.post(resource, fields)
    assert response.ok, response.data
    return response


@database_sync_to_async
def fetch(pk) -> Message:
    return Message.objects.get(pk=pk)


@database_sync_to_async
def history(pk) -> list[str]:
    return list(MessageEvent.objects.filter(message_id=pk).order_by("at", "id").values_list("status", flat=True))


def test_it_refuses_a_missing_wrong_or_blocked_token(s):
    token = s.api("carol").token
    s.carol.blocked = True
    s.carol.save()

    async def scenario():
        assert await refused(None)
        assert await refused("sbu_wrong-token-wrong-token-wrong")
        assert await refused(token)  # carol is blocked now
        # A web page cannot use the device route: a present Origin must match ALLOWED_HOSTS.
        bob = await database_sync_to_async(lambda: s.api("bob@example.com").token)()
        assert await refused(bob, headers=[(b"origin", b"https://evil.example")])
        comm = await connected(None, path=f"/ws/app/?token={bob}")  # query-string token, no Origin
        await comm.disconnect()

    run(scenario)


def test_a_user_to_user_message_arrives_live_and_a_read_report_marks_it(s):
    alice, bob = s.api("alice"), s.api("bob@example.com")

    async def scenario():
        bob_socket = await connected(bob.token)
        alice_socket = await connected(alice.token)
        sent = (await rest(alice, "message/send", {"recipient": "bob@example.com", "text": "ping"}))["message"]

        frame = await bob_socket.receive_json_from(timeout=2)
        assert frame["type"] == "message"
        copy = frame["message"]
        assert (copy["direction"], copy["sender"], copy["text"], copy["read"]) == ("in", "alice", "ping", False)
        own = await alice_socket.receive_json_from(timeout=2)  # her other devices see what she sent
        assert own["message"]["messageId"] == sent["messageId"] and own["message"]["direction"] == "out"

        await bob_socket.send_json_to({"type": "read", "messageId": copy["messageId"]})
        ack = await bob_socket.receive_json_from(timeout=2)
        assert ack == {"type": "ack", "for": "read", "messageId": copy["messageId"], "status": "OK"}
        assert (await fetch(copy["messageId"])).read is True
        assert (await fetch(sent["messageId"])).read is True  # alice's read receipt
        receipt = await alice_socket.receive_json_from(timeout=2)
        assert receipt["type"] == "message.updated"
        assert receipt["message"]["messageId"] == sent["messageId"] and receipt["message"]["read"] is True
        await bob_socket.disconnect()
        await alice_socket.disconnect()

    run(scenario)


def test_an_appmessaging_message_is_delivered_when_the_app_reports_it(s):
    channel = factories.create_channel(s.workspace, "appmessaging", "app", name="In-app")
    bob = s.api("bob@example.com")
    _, access_key = factories.create_access_key(s.workspace, "viewer")

    async def scenario():
        socket = await connected(bob.token)
        live = WebsocketCommunicator(
            websocket_application, "/ws/live/",
            headers=[(b"origin", b"http://testserver"), (b"authorization", f"AccessKey {access_key}".encode())],
        )
        assert (await live.connect())[0]

        origin = await database_sync_to_async(send_text)(channel, "userid", "bob@example.com", "Your parcel is here")
        # As the 002 dialect stores it: an appmessaging block with thread and notification.
        body = {"type": "appmessaging", "appmessaging": {
            "text": "Your parcel is here", "message": {"text": "Your parcel is here"}, "thread_type": "shipping",
            "thread_title": "Parcels", "notification": {"title": "Parcel", "text": "Your parcel is here"}}}
        await database_sync_to_async(Message.objects.filter(pk=origin.pk).update)(body=body)
        assert await database_sync_to_async(dispatch.dispatch_ids)([origin.id]) == 1
        assert (await fetch(origin.id)).status == Status.SENT

        frame = await socket.receive_json_from(timeout=2)
        copy = frame["message"]
        assert frame["type"] == "message"
        assert (copy["direction"], copy["text"], copy["sender"]) == ("in", "Your parcel is here", "In-app")
        assert frame["body"] == body

        await socket.send_json_to({"type": "delivered", "messageId": copy["messageId"]})
        assert (await socket.receive_json_from(timeout=2))["status"] == "OK"
        assert (await fetch(origin.id)).status == Status.DELIVERED
        assert await history(origin.id) == [Status.ACCEPTED, Status.PROCESSING, Status.SENT, Status.DELIVERED]

        # The sender's side hears it through the usual status path (here: the live dashboard).
        statuses = []
        while Status.DELIVERED not in statuses:
            event = await live.receive_json_from(timeout=2)
            if event["type"] == "message.status" and event["messageId"] == str(origin.id):
                statuses.append(event["status"])
        await live.disconnect()
        await socket.disconnect()

    run(scenario)


def test_an_appmessaging_message_to_an_unknown_user_fails_with_a_reason(s):
    channel = factories.create_channel(s.workspace, "appmessaging", "app", name="In-app")
    origin = send_text(channel, "userid", "nobody", "hello?")
    dispatch.dispatch_ids([origin.id])
    origin.refresh_from_db()
    assert origin.status == Status.SENDING_FAILED
    assert origin.reason == "app: no app user 'nobody' in this workspace"


def test_a_retried_batch_does_not_copy_a_message_twice(s):
    channel = factories.create_channel(s.workspace, "appmessaging", "app", name="In-app")
    origin = send_text(channel, "customerid", "carol", "once")
    from messaging.connectors.app.transport import AppConnector

    connector = AppConnector(channel)
    assert [r.status for r in connector.send_batch([origin])] == [Status.SENT]
    assert [r.status for r in connector.send_batch([origin])] == [Status.SENT]
    assert Message.objects.filter(origin=origin).count() == 1
    found = s.api("carol").post("message/search", {"query": "once"})["messages"]
    assert [m["direction"] for m in found] == ["in"]


def test_bad_reports_are_answered_with_codes_and_the_socket_stays_open(s):
    alice, bob = s.api("alice"), s.api("bob@example.com")
    sent = alice.post("message/send", {"recipient": "carol", "text": "not for bob"})["message"]

    async def scenario():
        socket = await connected(bob.token)
        await socket.send_json_to({"type": "read", "messageId": sent["messageId"]})
        ack = await socket.receive_json_from(timeout=2)
        assert (ack["status"], ack["errorCode"]) == ("ERROR", 97)
        await socket.send_to(text_data="not json")
        assert (await socket.receive_json_from(timeout=2))["errorCode"] == 2
        await socket.send_json_to({"type": "deleted", "messageId": sent["messageId"]})
        assert (await socket.receive_json_from(timeout=2))["errorCode"] == 2
        assert (await fetch(sent["messageId"])).read is False
        # Still open: a new message for bob arrives.
        await rest(alice, "message/send", {"recipient": "bob@example.com", "text": "still there?"})
        frame = await socket.receive_json_from(timeout=2)
        assert frame["message"]["text"] == "still there?"
        assert await socket.receive_nothing(timeout=QUIET)
        await socket.disconnect()

    run(scenario)


def test_a_socket_hears_only_its_own_users_messages(s):
    alice, bob, carol = s.api("alice"), s.api("bob@example.com"), s.api("carol")

    async def scenario():
        carol_socket = await connected(carol.token)
        await rest(alice, "message/send", {"recipient": "bob@example.com", "text": "for bob"})
        assert await carol_socket.receive_nothing(timeout=QUIET)
        await carol_socket.disconnect()

    run(scenario)
    assert [m["text"] for m in bob.post("message/search", {"query": "for bob"})["messages"]] == ["for bob"]
