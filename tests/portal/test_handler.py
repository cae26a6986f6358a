"""portal/handler.py: HTTP requests run on a fixed pool of threads that keep their database
connections, instead of a new thread (and connection) per request, and each crosses from
the event loop to its thread once."""

import asyncio
import json
import threading

import pytest
from django.core import signals
from django.db import connections

from portal.handler import PooledASGIHandler, ThreadPool
from tests.portal import handler_urls


async def request(app, path: str, query: str = "", disconnect: bool = False) -> list[dict]:
    """The ASGI messages the app sent for a GET; with `disconnect` the client goes away
    right after its request."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": query.encode(),
        "root_path": "", "headers": [(b"host", b"testserver")], "client": ("127.0.0.1", 1), "server": ("testserver", 80),
    }
    inbox = asyncio.Queue()
    await inbox.put({"type": "http.request", "body": b"", "more_body": False})
    sent = []

    if disconnect:
        await inbox.put({"type": "http.disconnect"})

    async def receive():
        if inbox.empty():
            await asyncio.Event().wait()  # no disconnect: wait until cancelled
        return await inbox.get()

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    return sent


def body(sent: list[dict]) -> bytes:
    return b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


async def get(app, path: str, query: str = "") -> dict:
    sent = await request(app, path, query)
    assert sent[0]["status"] == 200, sent
    return json.loads(body(sent))


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


def test_a_request_crosses_to_its_thread_once_and_runs_there_start_to_finish(app):
    """request_started, the middleware and view, and request_finished (the response's
    close) all run in one call on one pool thread."""
    submitted = []
    for executor in app.pool.executors:
        original = executor.submit

        def counting(fn, *args, _original=original, **kwargs):
            submitted.append(fn)
            return _original(fn, *args, **kwargs)

        executor.submit = counting
    threads = {"started": [], "finished": []}

    def started(**kwargs):
        threads["started"].append(threading.current_thread().name)

    def finished(**kwargs):
        threads["finished"].append(threading.current_thread().name)

    signals.request_started.connect(started)
    signals.request_finished.connect(finished)
    try:
        answers = asyncio.run(_three(app))
    finally:
        signals.request_started.disconnect(started)
        signals.request_finished.disconnect(finished)
    assert len(submitted) == 3  # one handoff per request
    assert threads["started"] == [a["thread"] for a in answers]
    assert threads["finished"] == [a["thread"] for a in answers]


async def _three(app) -> list[dict]:
    return [await get(app, "/whoami") for _ in range(3)]


@pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume synchronous iterators")
def test_a_streaming_response_is_sent_whole_then_closed(app):
    handler_urls.STREAM_EVENTS.clear()
    sent = asyncio.run(request(app, "/stream", "parts=3"))
    assert sent[0]["status"] == 200
    assert body(sent) == b"part 0;part 1;part 2;"
    assert sent[-1] == {"type": "http.response.body"}  # the end of the stream
    assert handler_urls.STREAM_EVENTS == ["part 0", "part 1", "part 2", "closed"]


def test_a_stream_stops_when_the_client_disconnects(app):
    handler_urls.STREAM_EVENTS.clear()
    sent = asyncio.run(request(app, "/stream", "async=1&parts=1000&pause=0.01", disconnect=True))
    assert sent[0]["status"] == 200
    assert handler_urls.STREAM_EVENTS[-1] == "closed"
    assert len(handler_urls.STREAM_EVENTS) < 100  # stopped long before its 1,000 parts


def test_a_failing_view_is_a_500_answer_not_a_crash(app, caplog):
    sent = asyncio.run(request(app, "/boom"))
    assert sent[0]["status"] == 500
    assert "the view failed" in caplog.text  # logged with its traceback


def test_an_error_while_closing_the_response_still_sends_the_answer(app, caplog):
    def failing(**kwargs):
        raise RuntimeError("a request_finished receiver failed")

    signals.request_finished.connect(failing)
    try:
        answer = asyncio.run(get(app, "/whoami"))
    finally:
        signals.request_finished.disconnect(failing)
    assert answer["thread"].startswith("web-")
    assert "closing the response to GET /whoami failed" in caplog.text
