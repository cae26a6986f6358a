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
"""

import threading
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import ThreadSensitiveContext
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler


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
