"""Publishing live events to the /ws/live/ sockets, after commit.

Listeners (connected in messaging.listeners) receive the on-commit signals of
messaging.signals and turn them into frames, one JSON object each (SPEC §3.6). Frames are
serialised once here, grouped per workspace and sent as few `live.batch` channel-layer
events as possible: a commit that moved 200 messages costs one group_send per workspace
(per FRAMES_PER_EVENT frames), not 200, and the 50 sockets of a busy workspace never
re-serialise the same frame. Publishing is best effort: a failure is logged and never
breaks the write that caused it (signals.send_robust also guards this).

Who publishes message events depends on the channel layer, so each event has exactly one
source. With a layer shared by every process (Redis), the signal receivers below publish
them from whichever process committed the change (web or worker). With the in-memory
layer (the default), a worker's group_send reaches nobody, so the receivers stay silent
for `message.status` / `message.incoming` and messaging.live.relay — a poller of the
MessageEvent table in each web process holding live sockets — publishes them instead,
through the same frame builders. `endpoint.state` is only ever produced in the web process
that holds the phone's socket, so its receiver publishes in both modes.
"""

import asyncio
import atexit
import json
import logging
import os
import threading
import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings

from messaging.models import Message
from messaging.signals import EndpointState, StatusChange

log = logging.getLogger(__name__)

# Frames per channel-layer event. Keeps one Redis payload well under a megabyte
# (a frame is ~250 bytes) while a burst still costs only a handful of group_sends.
FRAMES_PER_EVENT = 500
BATCH_EVENT_TYPE = "live.batch"


def group_name(workspace_id) -> str:
    """The channel-layer group of one workspace's live sockets."""
    return f"live.ws.{uuid.UUID(str(workspace_id)).hex}"


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _dump(frame: dict) -> str:
    return json.dumps(frame, separators=(",", ":"))


def status_frame(change: StatusChange) -> dict:
    return {
        "type": "message.status",
        "workspaceId": str(change.workspace_id),
        "messageId": str(change.message_id),
        "channelId": str(change.channel_id) if change.channel_id else None,
        "status": str(change.status),
        "reason": change.reason or "",
        "at": _iso(change.at),
    }


def incoming_frame(row: dict) -> dict:
    body = row["body"] if isinstance(row["body"], dict) else {}
    block = body.get(body.get("type"))
    return {
        "type": "message.incoming",
        "workspaceId": str(row["workspace_id"]),
        "messageId": str(row["id"]),
        "channelId": str(row["channel_id"]) if row["channel_id"] else None,
        "sender": row["sender"] or {},
        "text": (block.get("text") or "") if isinstance(block, dict) else "",
        "at": _iso(row["created_at"]),
    }


def endpoint_frame(state: EndpointState) -> dict:
    return {
        "type": "endpoint.state",
        "workspaceId": str(state.workspace_id),
        "channelId": str(state.channel_id),
        "endpointId": str(state.endpoint_id),
        "connectionState": state.connection_state,
        "sendPermission": state.send_permission,
        "readPermission": state.read_permission,
        "at": _iso(state.at),
    }


def layer_is_shared() -> bool:
    """True when a group_send from any process reaches every process's sockets (Redis);
    False for the in-memory layer (or none), which only reaches this process."""
    layer = get_channel_layer()
    return layer is not None and not isinstance(layer, InMemoryChannelLayer)


def _group_sends(frames: Iterable[dict]) -> list[tuple[str, dict]]:
    """Serialise frames once and pack them into `live.batch` events per workspace group."""
    per_workspace: dict[str, list[str]] = defaultdict(list)
    for frame in frames:
        per_workspace[frame["workspaceId"]].append(_dump(frame))
    return [
        (group_name(ws), {"type": BATCH_EVENT_TYPE, "frames": texts[i : i + FRAMES_PER_EVENT]})
        for ws, texts in per_workspace.items()
        for i in range(0, len(texts), FRAMES_PER_EVENT)
    ]


def publish_frames(frames: Iterable[dict]) -> int:
    """Send frames to their workspaces' groups; returns the number of group_send calls
    made (in-memory layer) or of groups queued for this process's next flush (shared layer)."""
    sends = _group_sends(frames)
    if not sends:
        return 0
    layer = get_channel_layer()
    if layer is None:  # no CHANNEL_LAYERS configured: nobody can be listening
        return 0
    if isinstance(layer, InMemoryChannelLayer):
        # Its queues belong to the server's event loop: async_to_sync runs the sends there
        # when called from a request or consumer thread.
        async_to_sync(_group_send_all)(layer, sends)
    else:
        _publisher.publish(layer, sends)
    return len(sends)


def coalesce_seconds() -> float:
    """How long a shared-layer publisher gathers commits before sending (LIVE_PUBLISH_COALESCE_MS)."""
    return getattr(settings, "LIVE_PUBLISH_COALESCE_MS", 50) / 1000


class _PublisherLoop:
    """One long-lived event loop per process, in a daemon thread, for a shared (Redis) layer.

    - async_to_sync from a worker (no server loop) made a new loop per commit, and
      channels-redis keeps its connections per loop: every commit opened a new Redis
      connection. On this loop the layer's connection pool lives as long as the process.
    - Commits are coalesced: `publish` only queues a commit's frames (the committing
      thread does not wait for Redis); every LIVE_PUBLISH_COALESCE_MS the loop sends what has
      gathered, per workspace group, in commit order, as few group_sends as possible. A
      worker committing 100 small status batches a second then costs each of 50 live
      sockets a few layer messages a second instead of 100 (each one a Redis round trip
      and a wake-up of every consumer). Queued frames are flushed at process exit.
    Made lazily and again after a fork (django-q2 forks its workers)."""

    DRAIN_TIMEOUT = 5.0

    def __init__(self):
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = 0
        self._pending: dict[str, list[str]] = {}
        self._layer = None
        self._flush_scheduled = False
        self._order: asyncio.Lock | None = None  # made on the loop: flushes go out one after another

    def _get_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="live-publisher", daemon=True).start()
                self._loop, self._pid = loop, os.getpid()
                self._pending, self._flush_scheduled, self._order = {}, False, None
            return self._loop

    def publish(self, layer, sends: list[tuple[str, dict]]) -> None:
        loop = self._get_loop()
        with self._lock:
            for group, event in sends:
                self._pending.setdefault(group, []).extend(event["frames"])
            self._layer = layer
            if self._flush_scheduled:
                return
            self._flush_scheduled = True
        loop.call_soon_threadsafe(loop.call_later, coalesce_seconds(), self._start_flush)

    def _start_flush(self) -> None:
        asyncio.ensure_future(self._flush())

    async def _flush(self) -> None:
        if self._order is None:
            self._order = asyncio.Lock()
        async with self._order:
            with self._lock:
                pending, layer = self._pending, self._layer
                self._pending, self._flush_scheduled = {}, False
            sends = [
                (group, {"type": BATCH_EVENT_TYPE, "frames": texts[i : i + FRAMES_PER_EVENT]})
                for group, texts in pending.items()
                for i in range(0, len(texts), FRAMES_PER_EVENT)
            ]
            if sends:
                await _group_send_all(layer, sends)

    def drain(self) -> None:
        """Send whatever is queued now and wait for it (process exit, tests)."""
        loop = self._loop
        if loop is None or self._pid != os.getpid() or not loop.is_running():
            return
        future = asyncio.run_coroutine_threadsafe(self._flush(), loop)
        try:
            future.result(self.DRAIN_TIMEOUT)
        except TimeoutError:
            log.error("live: queued frames could not be sent within %ss", self.DRAIN_TIMEOUT)


_publisher = _PublisherLoop()
atexit.register(_publisher.drain)


async def apublish_frames(frames: Iterable[dict]) -> int:
    """publish_frames for code already on the event loop (messaging.live.relay)."""
    sends = _group_sends(frames)
    layer = get_channel_layer()
    if not sends or layer is None:
        return 0
    await _group_send_all(layer, sends)
    return len(sends)


async def _group_send_all(layer, sends: list[tuple[str, dict]]) -> None:
    for group, event in sends:
        try:
            await layer.group_send(group, event)
        except Exception:  # one group failing must not stop the others
            log.exception("live: group_send to %s failed", group)


# --- signal receivers (connected in messaging.listeners) ---------------------------------


def on_status_changed(sender=None, changes: list[StatusChange] = (), **kwargs) -> None:
    if not layer_is_shared():  # in-memory layer: messaging.live.relay is the one source
        return
    publish_frames(status_frame(change) for change in changes)


def on_message_received(sender=None, message_ids: list = (), **kwargs) -> None:
    if not message_ids or not layer_is_shared():  # in-memory layer: the relay publishes these
        return
    rows = Message.objects.filter(id__in=list(message_ids)).values(
        "id", "workspace_id", "channel_id", "sender", "body", "created_at"
    )
    publish_frames(incoming_frame(row) for row in rows.order_by("created_at"))


def on_endpoint_state_changed(sender=None, states: list[EndpointState] = (), **kwargs) -> None:
    publish_frames(endpoint_frame(state) for state in states)
