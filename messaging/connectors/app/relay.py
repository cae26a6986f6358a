"""Relaying app users' /ws/app/ frames written by *other* processes to this process's sockets.

Why: with the embedded default (no REDIS_URL) the channel layer is in-memory and reaches
only the sockets of the process that calls group_send. Frames are written by whichever
process changes an app user's messages: a web process (a 003 `send` to another user, a
read report) or the django-q2 worker (a seed-002 `appmessaging` message delivered by the
app connector). Without this relay the worker's frames reached nobody, and with several
web processes a user's socket heard only what its own process wrote.

How: with the in-memory layer, messaging.connectors.app.push also stores each user's
frames as an AppFrame row tagged with the writing process (`origin()`), after delivering
them to its own sockets. Each web process holding /ws/app/ sockets runs one asyncio task
that reads the rows appended since its last look (`id > cursor`, with the live relay's
Cursor, which also finds rows of transactions that committed out of id order), skips its
own rows and those of users with no socket here, and sends the rest to the users' groups
in the local layer. It starts with the first socket (at the newest row then) and stops
with the last. With Redis nothing is stored and no relay runs: the layer reaches every
process. The sweeper deletes rows older than KEEP.
"""

import asyncio
import contextvars
import logging
import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from channels.db import database_sync_to_async
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.db import connections
from django.db.models import Max
from django.utils import timezone

from messaging.live.relay import Cursor, interval
from messaging.models import AppFrame

log = logging.getLogger(__name__)

BATCH = 500  # rows per poll; a full batch polls again at once
KEEP = timedelta(minutes=10)  # rows older than this are swept: a socket that was away syncs
_BOOT = uuid.uuid4().hex[:12]


def origin() -> str:
    """This process, as AppFrame.origin: a random boot token and the pid (a forked worker
    gets its own pid, so its rows are never taken for its parent's)."""
    return f"{_BOOT}:{os.getpid()}"


def layer_is_local() -> bool:
    return isinstance(get_channel_layer(), InMemoryChannelLayer)


def record(frames_by_user: dict[int, list[str]]) -> None:
    """Store frames (JSON texts per app user) for the other processes' sockets."""
    rows = [
        AppFrame(app_user_id=user_id, frames=frames, origin=origin())
        for user_id, frames in frames_by_user.items()
        if frames
    ]
    if rows:
        AppFrame.objects.bulk_create(rows)


def sweep(now=None) -> int:
    """Delete rows older than KEEP; returns how many."""
    cutoff = (now or timezone.now()) - KEEP
    deleted, _ = AppFrame.objects.filter(created_at__lt=cutoff).delete()
    return deleted


def latest_id() -> int:
    return AppFrame.objects.aggregate(last=Max("id"))["last"] or 0


def poll(cursor: Cursor, users: set[int], me: str, limit: int = BATCH) -> tuple[list[tuple[int, list[str]]], int]:
    """(user id, frames) of the rows since the cursor that are for `users` and not written
    by process `me`; the cursor moves past every row read. Also the number of rows read."""
    rows = list(
        AppFrame.objects.filter(cursor.query()).order_by("id").values_list("id", "app_user_id", "origin", "frames")[:limit]
    )
    cursor.advance([row[0] for row in rows], time.monotonic())
    return [(user_id, frames) for _, user_id, writer, frames in rows if writer != me and user_id in users], len(rows)


# app user id -> channel names of this process's /ws/app/ sockets; the relay runs while any
_sockets: dict[int, set[str]] = {}
_task: asyncio.Task | None = None
# The relay's own thread and database connection, as the live relay has (see there).
_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="app-relay")


def _in_relay_thread(fn):
    return database_sync_to_async(fn, thread_sensitive=False, executor=_executor)


def running() -> bool:
    return _task is not None and not _task.done()


async def register(user_id: int, channel_name: str) -> None:
    """An app socket opened here: start the relay if this process needs one. The cursor is
    read before the caller accepts the socket, so nothing written after it is missed."""
    global _task, _sockets
    if not layer_is_local():
        return
    loop = asyncio.get_running_loop()
    if _task is not None and _task.get_loop() is not loop:
        _task, _sockets = None, {}  # a previous event loop (tests run one per scenario) is gone
    _sockets.setdefault(user_id, set()).add(channel_name)
    if running():
        return
    start = await _in_relay_thread(latest_id)()
    if running() or channel_name not in _sockets.get(user_id, ()):
        return
    _task = loop.create_task(_run(Cursor(start)), name="app-relay", context=contextvars.Context())


def unregister(user_id: int, channel_name: str) -> None:
    """An app socket closed; the last one stops the relay."""
    global _task
    names = _sockets.get(user_id)
    if names is not None:
        names.discard(channel_name)
        if not names:
            del _sockets[user_id]
    if not _sockets and running():
        _task.cancel()
        _task = None


async def _run(cursor: Cursor) -> None:
    from messaging.connectors.app.push import EVENT_TYPE, group_name

    fetch = _in_relay_thread(poll)
    me = origin()
    layer = get_channel_layer()
    try:
        while _sockets:
            rows = 0
            try:
                found, rows = await fetch(cursor, set(_sockets), me)
                for user_id, frames in found:
                    await layer.group_send(group_name(user_id), {"type": EVENT_TYPE, "frames": frames})
            except Exception:  # a database hiccup must not end live app frames for good
                log.exception("app relay: polling AppFrame after id %s failed; retrying", cursor.last_id)
            if rows < BATCH:
                await asyncio.sleep(interval())
    finally:
        _executor.submit(connections.close_all)  # an idle relay holds no database connection
