"""bench/_httpclient.py, the lean HTTP/1.1 client of bench/send.py: answers parsed right
whatever the read boundaries, and a real daphne answered through it on one connection."""

import asyncio
import json

from asgiref.sync import async_to_sync

from bench import _httpclient as http
from tests import factories
from tests.bench.fakes import Transport
from tests.portal.server import daphne


def feed(connection: http.HttpConnection, stream: bytes, step: int) -> list[http.Response]:
    """Hand `stream` to the parser `step` bytes at a time; the responses it completes."""
    done = []
    for i in range(0, len(stream), step):
        connection.buffer += stream[i : i + step]
        while (response := connection.parse()) is not None:
            done.append(response)
    return done


def test_length_and_chunked_answers_come_out_whole_whatever_the_read_boundaries():
    stream = (
        b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"id\": 42}\n"
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\n\r\n"
        b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"
    )
    for step in (1, 3, 7, len(stream)):
        connection = http.HttpConnection("127.0.0.1:1", {})
        responses = feed(connection, stream, step)
        assert [(r.status_code, r.content) for r in responses] == [
            (202, b'{"id": 42}\n'),
            (200, b"hello, world"),
            (204, b""),
        ], step
        assert responses[0].headers["content-type"] == "application/json"
        assert connection.buffer == bytearray()


def test_a_request_carries_its_headers_and_body():
    async def scenario():
        connection = http.HttpConnection("127.0.0.1:8000", {"Authorization": "AccessKey k"})
        connection.transport = Transport()
        pending = asyncio.ensure_future(connection.request("POST", "/x?y=1", b'{"a":1}'))
        await asyncio.sleep(0)
        connection.data_received(b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}")
        response = await pending
        return connection.transport.written[0], response

    written, response = asyncio.run(scenario())
    assert written == (
        b"POST /x?y=1 HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nAuthorization: AccessKey k\r\n"
        b'Content-Length: 7\r\n\r\n{"a":1}'
    )
    assert (response.status_code, response.content) == (201, b"{}")


def test_a_lost_connection_fails_the_waiting_request():
    async def scenario():
        connection = http.HttpConnection("127.0.0.1:1", {})
        connection.transport = Transport()
        pending = asyncio.ensure_future(connection.request("GET", "/"))
        await asyncio.sleep(0)
        connection.connection_lost(None)
        try:
            await pending
        except http.ConnectionClosed:
            return "closed"

    assert asyncio.run(scenario()) == "closed"


def test_it_talks_to_a_real_daphne_over_one_keep_alive_connection(tmp_path, transactional_db):
    workspace = factories.create_workspace("Acme")
    _, key = factories.create_access_key(workspace, "viewer")

    async def talk(base: str) -> list[http.Response]:
        port = int(base.rsplit(":", 1)[1])
        connection = await http.connect("127.0.0.1", port, {"Authorization": f"AccessKey {key}"})
        try:
            return [
                await connection.request("GET", f"/workspaces/{workspace.id}/messages?limit=1"),
                await connection.request("GET", f"/workspaces/{workspace.id}/channels"),
                await connection.request("POST", f"/workspaces/{workspace.id}/tags", b'{"name": "x"}'),
            ]
        finally:
            connection.close()

    with daphne(tmp_path, drop_env=("REDIS_URL",)) as base:
        first, second, third = async_to_sync(talk)(base)
    assert first.status_code == 200 and json.loads(first.content)["results"] == []
    assert second.status_code == 200
    assert third.status_code == 403  # a viewer key may not create tags; the answer still arrives
    assert json.loads(third.content)["code"]
