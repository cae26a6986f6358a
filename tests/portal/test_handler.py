"""portal/handler.py: HTTP requests run on a fixed pool of threads that keep their database
connections, instead of a new thread (and connection) per request."""

import asyncio
import json

import pytest
from django.db import connections

from portal.handler import PooledASGIHandler, ThreadPool


async def get(app, path: str, query: str = "") -> dict:
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": query.encode(),
        "root_path": "", "headers": [(b"host", b"testserver")], "client": ("127.0.0.1", 1), "server": ("testserver", 80),
    }
    inbox = asyncio.Queue()
    await inbox.put({"type": "http.request", "body": b"", "more_body": False})
    sent = []

    async def receive():
        if inbox.empty():
            await asyncio.Event().wait()  # no disconnect: wait until cancelled
        return await inbox.get()

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    assert sent[0]["status"] == 200, sent
    return json.loads(b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body"))


@pytest.fixture
def app(settings, transactional_db):
    settings.ROOT_URLCONF = "tests.portal.handler_urls"
    connections.settings["default"]["CONN_MAX_AGE"] = 600  # the production default
    handler = PooledASGIHandler(threads=2)
    yield handler
    connections.settings["default"]["CONN_MAX_AGE"] = 0
    for executor in handler.pool.executors:  # the pool threads' connections go with the test
        executor.submit(connections.close_all).result()
        executor.shutdown()


def test_requests_reuse_the_pool_threads_and_their_database_connections(app):
    async def scenario():
        return [await get(app, "/whoami") for _ in range(4)]

    answers = asyncio.run(scenario())
    assert {a["thread"] for a in answers} <= {"web-0_0", "web-1_0"}
    assert len({a["thread"] for a in answers}) == 1  # one at a time: always the least busy, the first
    assert len({a["connection"] for a in answers}) == 1  # the same connection every time


def test_concurrent_requests_spread_over_the_threads(app):
    async def scenario():
        return await asyncio.gather(*(get(app, "/whoami", "sleep=0.3") for _ in range(2)))

    answers = asyncio.run(scenario())
    assert {a["thread"] for a in answers} == {"web-0_0", "web-1_0"}


def test_the_pool_hands_out_the_least_busy_thread():
    pool = ThreadPool(3)
    try:
        first, second, third = pool.acquire(), pool.acquire(), pool.acquire()
        assert sorted([first, second, third]) == [0, 1, 2]
        pool.release(second)
        assert pool.acquire() == second
    finally:
        for executor in pool.executors:
            executor.shutdown()


def test_a_websocket_scope_is_refused(app):
    with pytest.raises(ValueError, match="websocket"):
        asyncio.run(app({"type": "websocket"}, None, None))
