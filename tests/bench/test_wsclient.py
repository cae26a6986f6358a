"""bench/_wsclient.py, the lean websocket client of bench/live.py: frames parsed right, and
a real /ws/live/ socket served by daphne delivers its frames through it."""

import asyncio
import json
import struct

import pytest
from asgiref.sync import async_to_sync

from bench import _wsclient as wsc
from messaging.models import Status
from messaging.services import status as st
from tests import factories
from tests.bench.fakes import Transport
from tests.portal.server import daphne


def server_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    first = (0x80 if fin else 0) | opcode
    if len(payload) < 126:
        return struct.pack("!BB", first, len(payload)) + payload
    if len(payload) < 65536:
        return struct.pack("!BBH", first, 126, len(payload)) + payload
    return struct.pack("!BBQ", first, 127, len(payload)) + payload


def unmask(frame: bytes) -> tuple[int, bytes]:
    length = frame[1] & 0x7F
    key, payload = frame[2:6], frame[6 : 6 + length]
    return frame[0] & 0x0F, bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def test_frames_split_anywhere_fragmented_or_long_come_out_whole():
    async def scenario():
        texts = []
        client = wsc.WebsocketClient(texts.append)
        client.transport = Transport()
        client.handshake_done.set_result(True)
        long_text = "é" * 40_000  # 80,000 bytes: the 64-bit length form
        stream = (
            server_frame(wsc.TEXT, b'{"a":1}')
            + server_frame(wsc.TEXT, b"hel", fin=False)
            + server_frame(wsc.CONTINUATION, b"lo")
            + server_frame(wsc.TEXT, ("x" * 300).encode())
            + server_frame(wsc.TEXT, long_text.encode())
            + server_frame(wsc.PING, b"are you there")
        )
        for i in range(0, len(stream), 7):  # arbitrary read boundaries
            client.data_received(stream[i : i + 7])
        assert texts == ['{"a":1}', "hello", "x" * 300, long_text]
        assert [unmask(f) for f in client.transport.written] == [(wsc.PONG, b"are you there")]

    asyncio.run(scenario())


@pytest.mark.django_db(transaction=True)
def test_it_receives_live_frames_from_a_real_daphne(tmp_path):
    workspace = factories.create_workspace("Acme")
    channel = factories.create_channel(workspace, name="SMS")
    _, key = factories.create_access_key(workspace, "viewer")
    message = factories.create_message(channel)

    async def listen(base: str) -> dict:
        port = base.rsplit(":", 1)[1]
        got = asyncio.Queue()
        ws = await wsc.connect(
            f"ws://127.0.0.1:{port}/ws/live/",
            {"Origin": f"http://127.0.0.1:{port}", "Authorization": f"AccessKey {key}"},
            got.put_nowait,
        )
        try:
            await asyncio.get_running_loop().run_in_executor(
                None, lambda: st.transition(message, Status.SENDING_FAILED, reason="no route")
            )
            return json.loads(await asyncio.wait_for(got.get(), 5))
        finally:
            ws.close()

    with daphne(tmp_path, drop_env=("REDIS_URL",), LIVE_RELAY_INTERVAL_MS="100") as base:
        frame = async_to_sync(listen)(base)
    assert (frame["type"], frame["messageId"], frame["status"]) == ("message.status", str(message.id), "sending_failed")


def test_a_refused_handshake_is_an_error(tmp_path, transactional_db):
    async def attempt(base: str):
        port = base.rsplit(":", 1)[1]
        with pytest.raises(wsc.HandshakeFailed):
            await wsc.connect(f"ws://127.0.0.1:{port}/ws/live/", {"Authorization": "AccessKey nope"}, print)

    with daphne(tmp_path, drop_env=("REDIS_URL",)) as base:
        async_to_sync(attempt)(base)
