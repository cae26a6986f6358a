"""/ws/app/ without Redis: frames written by another process (the worker delivering a
seed-002 appmessaging message, another web process) reach the app user's socket through
the AppFrame table, once (messaging/connectors/app/relay.py)."""

import asyncio
import json
import threading
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connection
from django.utils import timezone

from bench import _wsclient as wsc
from messaging.connectors.app import push, relay
from messaging.models import AppFrame
from messaging.routing import websocket_application
from messaging.services import dispatch
from messaging.services.send import send_text
from tests import factories
from tests.dialects.user_api import Setup
from tests.portal.server import daphne

pytestmark = pytest.mark.django_db(transaction=True)  # the relay reads on its own connection

IN_MEMORY = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
QUIET = 0.6  # seconds of silence that prove no second copy follows (several relay ticks)


@pytest.fixture(autouse=True)
def in_memory(settings):
    settings.CHANNEL_LAYERS = IN_MEMORY
    settings.LIVE_RELAY_INTERVAL_MS = 50


@pytest.fixture
def s(workspace):
    return Setup(workspace)


def frame(text: str) -> dict:
    return {"type": "message", "message": {"text": text}}


@database_sync_to_async
def written_elsewhere(rows: list[tuple[int, str, dict]]) -> None:
    """AppFrame rows committed on another thread and connection, as another process would."""
    errors = []

    def target():
        try:
            for user_id, origin, item in rows:
                AppFrame.objects.create(app_user_id=user_id, origin=origin, frames=[json.dumps(item)])
        except Exception as exc:  # handed to the test
            errors.append(exc)
        finally:
            connection.close()

    worker = threading.Thread(target=target)
    worker.start()
    worker.join()
    assert errors == []


def test_a_push_is_stored_for_the_other_processes(s):
    sent = push.push_now({s.bob.id: [frame("hi")]})
    assert sent == 1
    row = AppFrame.objects.get()
    assert (row.app_user_id, row.origin) == (s.bob.id, relay.origin())
    assert [json.loads(text) for text in row.frames] == [frame("hi")]


def test_with_a_shared_layer_nothing_is_stored(s, settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "tests.live.test_relay.SharedStandIn"}}
    assert push.push_now({s.bob.id: [frame("hi")]}) == 1
    assert not AppFrame.objects.exists()


def test_frames_written_by_another_process_reach_the_socket_once(s):
    bob_token = s.api("bob@example.com").token

    async def scenario():
        socket = WebsocketCommunicator(
            websocket_application, "/ws/app/", headers=[(b"authorization", f"Bearer {bob_token}".encode())]
        )
        assert (await socket.connect())[0]
        try:
            await written_elsewhere(
                [
                    (s.bob.id, "another-process:1", frame("from the worker")),
                    (s.bob.id, relay.origin(), frame("this process already sent it")),
                    (s.carol.id, "another-process:1", frame("for carol, who has no socket here")),
                ]
            )
            assert await socket.receive_json_from(timeout=3) == frame("from the worker")
            assert await socket.receive_nothing(timeout=QUIET)
        finally:
            await socket.disconnect()
        assert not relay.running()  # the last socket closed: no more polling

    async_to_sync(scenario)()


def test_the_sweeper_deletes_frames_older_than_ten_minutes(s):
    old = AppFrame.objects.create(app_user=s.bob, origin="x", frames=[], created_at=timezone.now() - timedelta(minutes=11))
    new = AppFrame.objects.create(app_user=s.bob, origin="x", frames=[])
    dispatch.sweep()
    assert list(AppFrame.objects.values_list("id", flat=True)) == [new.id]
    assert not AppFrame.objects.filter(id=old.id).exists()


def test_a_worker_delivered_appmessaging_message_reaches_a_socket_held_by_daphne(s, tmp_path, monkeypatch):
    """The gap this closes: the app connector runs in the worker process, whose in-memory
    layer reaches no socket. Here this test process plays the worker."""
    monkeypatch.setattr(dispatch, "request_dispatch", lambda *a, **k: False)
    channel = factories.create_channel(s.workspace, "appmessaging", "app", name="In-app")
    bob_token = s.api("bob@example.com").token

    async def scenario(base: str) -> dict:
        port = base.rsplit(":", 1)[1]
        got = asyncio.Queue()
        ws = await wsc.connect(
            f"ws://127.0.0.1:{port}/ws/app/", {"Authorization": f"Bearer {bob_token}"}, got.put_nowait
        )
        try:
            origin = await database_sync_to_async(send_text)(channel, "userid", "bob@example.com", "Your parcel")
            assert await database_sync_to_async(dispatch.dispatch_ids)([origin.id]) == 1
            return json.loads(await asyncio.wait_for(got.get(), 5))
        finally:
            ws.close()

    with daphne(tmp_path, drop_env=("REDIS_URL",), LIVE_RELAY_INTERVAL_MS="100") as base:
        received = async_to_sync(scenario)(base)
    assert received["type"] == "message"
    assert (received["message"]["text"], received["message"]["sender"]) == ("Your parcel", "In-app")


def test_a_socket_whose_connect_fails_leaves_nothing_registered(s, monkeypatch):
    bob_token = s.api("bob@example.com").token

    def broken(fn):
        async def fail(*args, **kwargs):
            raise RuntimeError("database down")

        return fail

    monkeypatch.setattr(relay, "_in_relay_thread", broken)

    async def scenario():
        socket = WebsocketCommunicator(
            websocket_application, "/ws/app/", headers=[(b"authorization", f"Bearer {bob_token}".encode())]
        )
        with pytest.raises(RuntimeError, match="database down"):  # the handshake fails
            await socket.connect()

    async_to_sync(scenario)()
    assert relay._sockets == {} and not relay.running()
