"""Batching of SendMessageSucceeded replies within one web process.

A busy fleet answers hundreds of sends per second. Handled one by one, each reply is its
own transaction (and, on SQLite, its own turn at the write lock), so they queue behind
each other. Instead the consumer hands each success to this batcher and returns; one
loop per process records everything that arrived meanwhile with a few bulk statements
(routing.sends_succeeded). Under light load a batch is one reply, so nothing waits.
"""

import asyncio
import logging

from channels.db import database_sync_to_async

from messaging.engine import routing

log = logging.getLogger(__name__)

MAX_BATCH = 500

_pending: list[tuple[object, str]] = []
_task: asyncio.Task | None = None


def add(endpoint_id, token: str) -> None:
    """Queue one success; the loop records it soon (in order, with whatever else came)."""
    global _task
    _pending.append((endpoint_id, token))
    loop = asyncio.get_running_loop()
    if _task is None or _task.done() or _task.get_loop() is not loop:
        _task = loop.create_task(_run())


async def _run() -> None:
    record = database_sync_to_async(routing.sends_succeeded)
    while _pending:
        batch = _pending[:MAX_BATCH]
        del _pending[:MAX_BATCH]
        try:
            await record(batch)
        except Exception:  # logged; the requests stay open and time out into a retry
            log.exception("recording %d SendMessageSucceeded replies failed", len(batch))


async def drain() -> None:
    """Wait until every queued success is recorded (tests, shutdown)."""
    while _task is not None and not _task.done() and _task.get_loop() is asyncio.get_running_loop():
        await asyncio.sleep(0.01)
