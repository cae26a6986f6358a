"""Django's ASGI handler with a fixed pool of request threads (WEB_THREADS).

Stock Django runs the synchronous part of every HTTP request (middleware, view, ORM) in
a thread made for that request (`ThreadSensitiveContext()` without an executor) and
shuts the thread down afterwards. Every request therefore also opened a database
connection of its own — a fresh SQLite connection with a cold page cache, or a new
PostgreSQL backend — and closed it again; with 20 concurrent clients that was 20
threads fighting over the GIL and over SQLite's one write lock, whose busy handler
polls with sleeps of up to 100 ms (the multi-second p99 bench/send.py measured).

Here each request runs its synchronous code on one of WEB_THREADS long-lived threads
(asgiref's `ThreadSensitiveContext(executor=...)`, which leaves the executor running on
exit), the least busy one. Each thread keeps its own database connection between
requests (Django's CONN_MAX_AGE, which is safe again because the number of threads,
and so of connections, is fixed). A request is still served as a whole by one thread,
so Django's thread-local state (the database connection, translations) behaves as
under any threaded WSGI server.

And a request crosses from the event loop to its thread once. Stock Django's ASGI
handler builds the middleware chain in async mode: with synchronous middleware that is
one hop to a thread for the chain, a hop back to the event loop for the URL resolver
(`async_to_sync`), another to the thread for the view, back again, plus one hop each for
the `request_started` receivers and for `response.close()` — six handoffs between the
loop and the thread, each a wake-up of the other side and a GIL exchange (bench/send.py
measured a quarter of the web process's CPU in them). Here the chain is built in
synchronous mode, as under WSGI, and one call on the request thread sends
`request_started`, builds the request, runs the chain and view, and — for an ordinary
(not streaming) response — closes it, which sends `request_finished`. The event loop
only reads the body and writes the answer. A streaming response (FileResponse, media
files) is sent as Django sends it, watching for the client going away, and closed after.
"""

import asyncio
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.conf import settings
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.http import FileResponse
from django.urls import set_script_prefix

logger = logging.getLogger("django.request")


class ThreadPool:
    """N single-thread executors; `acquire()` gives the one with the fewest requests."""

    def __init__(self, size: int):
        self.executors = [ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"web-{i}") for i in range(size)]
        self.busy = [0] * size
        self._lock = threading.Lock()  # acquire/release run on the event loop; cheap insurance

    def acquire(self) -> int:
        with self._lock:
            index = min(range(len(self.busy)), key=self.busy.__getitem__)
            self.busy[index] += 1
            return index

    def release(self, index: int) -> None:
        with self._lock:
            self.busy[index] -= 1


class PooledASGIHandler(ASGIHandler):
    def __init__(self, threads: int | None = None):
        super().__init__()
        self.pool = ThreadPool(threads or settings.WEB_THREADS)

    def load_middleware(self, is_async=False):
        """The synchronous chain, as under WSGI (ASGIHandler asks for the async one)."""
        super().load_middleware(is_async=False)

    async def handle(self, scope, receive, send):
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        # Not in a `finally`: if daphne cancels this coroutine, the view may still be
        # running on its thread and reading the body (Django's handler does the same).
        response = await sync_to_async(self.respond, thread_sensitive=True)(scope, body_file)
        if response.streaming:
            await self.stream(response, receive, send)
        else:
            await self.send_response(response, send)
        body_file.close()

    def respond(self, scope, body_file):
        """Everything synchronous about one request, on its pool thread."""
        set_script_prefix(get_script_prefix(scope))
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, response = self.create_request(scope, body_file)
        if request is not None:
            response = self.get_response(request)  # closes the request with the response
            response._handler_class = self.__class__
            if isinstance(response, FileResponse):
                response.block_size = self.chunk_size  # daphne does its own chunking
        if not response.streaming:
            try:
                response.close()  # its content is bytes already; this sends request_finished
            except Exception:  # the work is done and the answer ready: it still goes out
                logger.exception("closing the response to %s %s failed", scope.get("method"), scope.get("path"))
        return response

    async def stream(self, response, receive, send):
        """Send a streaming response, stopping if the client disconnects; then close it."""
        tasks = [
            asyncio.create_task(self.listen_for_disconnect(receive)),
            asyncio.create_task(self.send_response(response, send)),
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:  # also when this coroutine is cancelled: no task outlives it
            for task in tasks:
                if not task.done():
                    task.cancel()
                try:
                    await task
                except (asyncio.CancelledError, RequestAborted):
                    pass
            await sync_to_async(response.close, thread_sensitive=True)()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        index = self.pool.acquire()
        try:
            async with ThreadSensitiveContext(executor=self.pool.executors[index]):
                await self.handle(scope, receive, send)
        finally:
            self.pool.release(index)


def get_asgi_application() -> PooledASGIHandler:
    """Like django.core.asgi.get_asgi_application, with the pooled handler."""
    import django

    django.setup(set_prefix=False)
    return PooledASGIHandler()
