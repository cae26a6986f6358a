"""The live relay: with the in-memory channel layer (the default set-up), changes committed by
another process — the django-q2 worker — still reach /ws/live/ sockets, exactly once.

Most tests pin the in-memory layer whatever this run uses, and make their change where the
web process's signals cannot publish it: in another thread with the live listeners
disconnected, as the worker process would. One test runs a real daphne process and makes
the change from this (other) process against the same database.
"""

import asyncio
import json
import threading
from contextlib import asynccontextmanager

import pytest
import websockets
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import InMemoryChannelLayer
from channels.testing import WebsocketCommunicator
from django.db import connection

from messaging import signals
from messaging.live import events, relay
from messaging.models import MessageEvent, Status
from messaging.routing import websocket_application
from messaging.services import status as st
from messaging.services.receive import receive_message
from tests import factories
from tests.portal.server import daphne

pytestmark = pytest.mark.django_db(transaction=True)

KEY_HEADER = b"authorization"
DEADLINE = 3  # seconds a relayed frame may take (the relay polls every 200 ms)
QUIET = 0.6  # seconds of silence that prove no second copy follows (3 relay ticks)
IN_MEMORY = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
LIVE_RECEIVERS = [
    (signals.message_status_changed, events.on_status_changed, "live.status"),
    (signals.message_received, events.on_message_received, "live.incoming"),
    (signals.message_status_changed, relay.nudge, "live.relay.status"),
    (signals.message_received, relay.nudge, "live.relay.incoming"),
]


class SharedStandIn:
    """A layer that is not InMemoryChannelLayer, so the app treats it like Redis (shared by
    every process), while really living in this process. Like Redis it may be sent to from
    any event loop (the app publishes to a shared layer from a loop of its own): sends hop
    to the loop its sockets listen on."""

    def __init__(self, **config):
        self._inner = InMemoryChannelLayer(**config)
        self._home: asyncio.AbstractEventLoop | None = None

    async def group_add(self, group, channel):
        self._home = asyncio.get_running_loop()
        return await self._inner.group_add(group, channel)

    async def group_send(self, group, message):
        home = self._home
        if home is None or home is asyncio.get_running_loop():
            return await self._inner.group_send(group, message)
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self._inner.group_send(group, message), home))

    def __getattr__(self, name):
        return getattr(self._inner, name)


@pytest.fixture
def in_memory(settings):
    settings.CHANNEL_LAYERS = IN_MEMORY


@pytest.fixture
def worker_like():
    """The web process's live signal receivers disconnected: a change made now reaches a
    socket only through the relay, as one committed by the worker process does."""
    for signal, _, uid in LIVE_RECEIVERS:
        signal.disconnect(dispatch_uid=uid)
    yield
    for signal, receiver, uid in LIVE_RECEIVERS:
        signal.connect(receiver, dispatch_uid=uid)


@pytest.fixture
def acme():
    workspace = factories.create_workspace("Acme")
    channel = factories.create_channel(workspace, name="SMS")
    _, key = factories.create_access_key(workspace, "viewer")
    return workspace, channel, key


def run(coro_fn):
    return async_to_sync(coro_fn)()


@asynccontextmanager
async def live(key: str):
    comm = WebsocketCommunicator(
        websocket_application, "/ws/live/", headers=[(KEY_HEADER, f"AccessKey {key}".encode())]
    )
    connected, _ = await comm.connect()
    assert connected, "the live socket was refused"
    try:
        yield comm
    finally:
        await comm.disconnect()


@database_sync_to_async
def in_another_thread(fn):
    """Run fn on its own thread and database connection, committed when it returns."""
    outcome = {}

    def target():
        try:
            outcome["value"] = fn()
        except BaseException as exc:  # re-raised below, on the test's side
            outcome["error"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(timeout=30)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def text_body(text: str) -> dict:
    return {"type": "text", "text": {"text": text}}


def test_a_status_change_committed_elsewhere_reaches_the_socket_once(in_memory, worker_like, acme):
    workspace, channel, key = acme
    message = factories.create_message(channel)

    async def scenario():
        async with live(key) as comm:
            assert relay.running()
            await in_another_thread(lambda: st.transition(message, Status.SENDING_FAILED, reason="no route"))
            frame = await comm.receive_json_from(timeout=DEADLINE)
            assert frame == {
                "type": "message.status",
                "workspaceId": str(workspace.id),
                "messageId": str(message.id),
                "channelId": str(channel.id),
                "status": "sending_failed",
                "reason": "no route",
                "at": frame["at"],
            }
            assert frame["at"].endswith("Z")
            assert await comm.receive_nothing(timeout=QUIET)
        assert not relay.running()  # the last socket closed: no more polling

    run(scenario)


def test_a_change_committed_in_this_process_wakes_the_relay_at_once(in_memory, settings, acme):
    """No waiting for the next tick: the on-commit signal nudges this process's relay."""
    settings.LIVE_RELAY_INTERVAL_MS = 10_000  # a tick would come far too late for the deadline below
    workspace, channel, key = acme
    message = factories.create_message(channel)

    async def scenario():
        async with live(key) as comm:
            await asyncio.sleep(0.2)  # the relay's first poll is done; it now waits for its tick
            await in_another_thread(lambda: st.transition(message, Status.SENDING_FAILED, reason="no route"))
            frame = await comm.receive_json_from(timeout=2)
            assert (frame["messageId"], frame["status"]) == (str(message.id), "sending_failed")
            assert await comm.receive_nothing(timeout=QUIET)

    run(scenario)


def test_an_incoming_message_stored_elsewhere_is_relayed(in_memory, worker_like, acme):
    workspace, channel, key = acme
    other = factories.create_channel(factories.create_workspace("Globex"), name="SMS")

    def receive_two():
        receive_message(other, "phonenumber", "+15550002222", text_body("not for Acme"))
        return receive_message(channel, "phonenumber", "+15550001111", text_body("Open on Sunday?"))

    async def scenario():
        async with live(key) as comm:
            mine = await in_another_thread(receive_two)
            frame = await comm.receive_json_from(timeout=DEADLINE)
            assert frame == {
                "type": "message.incoming",
                "workspaceId": str(workspace.id),
                "messageId": str(mine.id),
                "channelId": str(channel.id),
                "sender": {
                    "identifierKey": "phonenumber",
                    "identifierValue": "+15550001111",
                    "contactId": str(mine.contact_id),
                },
                "text": "Open on Sunday?",
                "at": frame["at"],
            }
            assert await comm.receive_nothing(timeout=QUIET)  # no copy, nothing from Globex

    run(scenario)


def test_a_change_made_in_the_web_process_is_not_sent_twice(in_memory, acme):
    """The signal receivers are connected here, yet the relay is the only publisher."""
    _, channel, key = acme
    message = factories.create_message(channel)

    async def scenario():
        async with live(key) as comm:
            moved = await database_sync_to_async(st.transition_many)(
                [message.id], Status.DELIVERED, via=["sent"]
            )
            assert moved == [message.id]
            got = [await comm.receive_json_from(timeout=DEADLINE) for _ in range(2)]
            assert [(f["messageId"], f["status"]) for f in got] == [
                (str(message.id), "sent"),
                (str(message.id), "delivered"),
            ]
            assert await comm.receive_nothing(timeout=QUIET)

    run(scenario)


def test_nothing_older_than_the_socket_is_replayed(in_memory, acme):
    _, channel, key = acme
    before, after = factories.create_message(channel), factories.create_message(channel)
    st.transition(before, Status.PROCESSING)

    async def scenario():
        async with live(key) as comm:
            await database_sync_to_async(st.transition)(after, Status.PROCESSING)
            assert (await comm.receive_json_from(timeout=DEADLINE))["messageId"] == str(after.id)
            assert await comm.receive_nothing(timeout=QUIET)

    run(scenario)


def test_a_failing_poll_is_logged_and_the_relay_keeps_going(
    in_memory, worker_like, acme, monkeypatch, caplog
):
    _, channel, key = acme
    message = factories.create_message(channel)
    real_poll, calls = relay.poll, []

    def flaky_poll(cursor, limit=relay.BATCH):
        calls.append(cursor.last_id)
        if len(calls) == 1:
            raise RuntimeError("database is locked")
        return real_poll(cursor, limit)

    monkeypatch.setattr(relay, "poll", flaky_poll)

    async def scenario():
        async with live(key) as comm:
            await in_another_thread(lambda: st.transition(message, Status.PROCESSING))
            assert (await comm.receive_json_from(timeout=DEADLINE))["status"] == "processing"

    run(scenario)
    failures = [r for r in caplog.records if r.name == "messaging.live.relay"]
    assert len(failures) == 1 and "after id" in failures[0].getMessage()
    assert "database is locked" in failures[0].exc_text


def test_a_row_committed_late_with_a_lower_id_is_still_relayed_once(acme):
    """PostgreSQL hands out ids before commit, so id 11 may become visible after id 12."""
    _, channel, _ = acme
    message = factories.create_message(channel)
    MessageEvent.objects.create(message=message, status="accepted")
    cursor = relay.Cursor(relay.latest_event_id())
    first, late, last = (
        MessageEvent.objects.create(message=message, status=s) for s in ("processing", "sent", "delivered")
    )
    late_fields = {"id": late.id, "message_id": late.message_id, "status": late.status, "at": late.at}
    late.delete()  # not committed yet, as far as the relay can tell

    frames, rows = relay.poll(cursor)
    assert [f["status"] for f in frames] == ["processing", "delivered"] and rows == 2
    assert cursor.holes.keys() == {late_fields["id"]}

    MessageEvent.objects.create(**late_fields)  # ... and now it commits
    frames, _ = relay.poll(cursor)
    assert [f["status"] for f in frames] == ["sent"]
    assert relay.poll(cursor) == ([], 0) and not cursor.holes
    assert cursor.last_id == last.id > first.id


def test_holes_are_forgotten_after_a_while_and_huge_jumps_are_not_tracked():
    cursor = relay.Cursor(10)
    cursor.advance([13], now=100.0)
    assert set(cursor.holes) == {11, 12}
    cursor.advance([], now=100.0 + relay.HOLE_SECONDS + 1)
    assert cursor.holes == {} and cursor.last_id == 13
    cursor.advance([13 + relay.MAX_HOLES + 5], now=200.0)
    assert cursor.holes == {} and cursor.last_id == 13 + relay.MAX_HOLES + 5


def test_with_a_shared_layer_the_signals_publish_and_no_relay_runs(settings, acme):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": f"{__name__}.SharedStandIn"}}
    _, channel, key = acme
    message = factories.create_message(channel)

    async def scenario():
        async with live(key) as comm:
            assert not relay.running()
            await database_sync_to_async(st.transition)(message, Status.PROCESSING)
            assert (await comm.receive_json_from(timeout=DEADLINE))["status"] == "processing"
            assert await comm.receive_nothing(timeout=QUIET)

    run(scenario)


def test_a_real_daphne_process_relays_what_this_process_commits(acme, tmp_path):
    """Two processes, the default set-up: daphne with the in-memory layer holds the socket;
    this process plays the worker and commits a status change and an incoming message."""
    workspace, channel, key = acme
    message = factories.create_message(channel)

    async def listen(base: str) -> tuple[list[dict], object]:
        port = base.rsplit(":", 1)[1]
        headers = {"Authorization": f"AccessKey {key}", "Origin": f"http://127.0.0.1:{port}"}
        frames = []
        async with websockets.connect(f"ws://127.0.0.1:{port}/ws/live/", additional_headers=headers) as ws:
            await database_sync_to_async(st.transition)(message, Status.SENDING_FAILED, reason="no route")
            frames.append(json.loads(await asyncio.wait_for(ws.recv(), DEADLINE)))
            incoming = await database_sync_to_async(receive_message)(
                channel, "phonenumber", "+15550001111", text_body("Open on Sunday?")
            )
            frames.append(json.loads(await asyncio.wait_for(ws.recv(), DEADLINE)))
            with pytest.raises(TimeoutError):  # exactly once: nothing else follows
                await asyncio.wait_for(ws.recv(), QUIET)
        return frames, incoming

    with daphne(tmp_path, drop_env=("REDIS_URL",), LIVE_RELAY_INTERVAL_MS="100") as base:
        (status, arrived), incoming = async_to_sync(listen)(base)
    assert {k: v for k, v in status.items() if k != "at"} == {
        "type": "message.status",
        "workspaceId": str(workspace.id),
        "messageId": str(message.id),
        "channelId": str(channel.id),
        "status": "sending_failed",
        "reason": "no route",
    }
    assert (arrived["type"], arrived["messageId"], arrived["text"]) == (
        "message.incoming",
        str(incoming.id),
        "Open on Sunday?",
    )
