"""Delivering frames to phones whose socket this process may not hold.

Frames reach a device through its channel-layer group `endpoint.<id>`. With Redis
(REDIS_URL) that works from any process, so requests are pushed at once. With the
embedded default, the in-memory layer only reaches sockets of the *same* process — but the
dispatcher runs in the django-q2 worker, not in daphne. So every request row is written
with `sent_at` empty unless it could be pushed at once, and each web process runs one
pump: a loop that, while it holds device sockets, claims the unsent requests of those
devices from the database (a conditional UPDATE, so a request is handed out once) and
hands their frames to the local sessions. The database is the outbox here too, and
nothing one process needs lives only in another's memory.

The pump also delivers requests made while a phone was offline (mark-read), as soon as
it reconnects.
"""

import asyncio
import logging

from channels.db import database_sync_to_async
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.db import connection, transaction
from django.utils import timezone

from messaging.models import EngineRequest

log = logging.getLogger(__name__)

INTERVAL = 0.1  # seconds between looks at the outbox while this process holds devices
BATCH = 2000

# endpoint id → channel name of its session in this process
_sessions: dict = {}
_task: asyncio.Task | None = None


def shared_layer() -> bool:
    """True when the channel layer reaches every process (Redis)."""
    return not isinstance(get_channel_layer(), InMemoryChannelLayer)


def holds(endpoint_id) -> bool:
    return endpoint_id in _sessions


def can_push(endpoint_id) -> bool:
    """Can a frame be pushed to this (connected) device from here right now?"""
    return shared_layer() or holds(endpoint_id)


def register(endpoint_id, channel_name: str) -> None:
    """A device's session opened in this process: make sure the pump runs."""
    global _task
    _sessions[endpoint_id] = channel_name
    loop = asyncio.get_running_loop()
    if _task is None or _task.done() or _task.get_loop() is not loop:
        _task = loop.create_task(_run())


def unregister(endpoint_id, channel_name: str) -> None:
    if _sessions.get(endpoint_id) == channel_name:
        del _sessions[endpoint_id]
    if not _sessions and _task is not None and not _task.done():
        _task.cancel()


def claim_unsent(endpoint_ids: list, limit: int = BATCH) -> dict:
    """Claim unsent requests of these devices; {endpoint id: [frame, ...]} in order."""
    unsent = EngineRequest.objects.filter(sent_at=None, answered_at=None, outcome="", endpoint_id__in=endpoint_ids)
    # Look before locking: on SQLite every transaction takes the write lock, and the pump
    # looks ten times a second.
    if not unsent.exists():
        return {}
    with transaction.atomic():
        rows = unsent.order_by("id")
        if connection.vendor == "postgresql":
            rows = rows.select_for_update(skip_locked=True)
        picked = list(rows.values_list("id", "endpoint_id", "detail")[:limit])
        if not picked:
            return {}
        EngineRequest.objects.filter(id__in=[r[0] for r in picked], sent_at=None).update(sent_at=timezone.now())
    frames: dict = {}
    for _, endpoint_id, detail in picked:
        if (detail or {}).get("frame"):
            frames.setdefault(endpoint_id, []).append(detail["frame"])
    return frames


async def _run() -> None:
    from messaging.engine.routing import group_name

    claim = database_sync_to_async(claim_unsent)
    layer = get_channel_layer()
    while _sessions:
        try:
            for endpoint_id, frames in (await claim(list(_sessions))).items():
                await layer.group_send(group_name(endpoint_id), {"type": "engine.frames", "frames": frames})
        except Exception:  # a database hiccup must not stop deliveries for good
            log.exception("engine pump: delivering unsent requests failed")
        await asyncio.sleep(INTERVAL)
