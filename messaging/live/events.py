"""Publishing live events to the /ws/live/ sockets, after commit.

Listeners (connected in messaging.listeners) receive the on-commit signals of
messaging.signals and turn them into frames, one JSON object each (SPEC §3.6). Frames are
serialised once here, grouped per workspace and sent as few `live.batch` channel-layer
events as possible: a commit that moved 200 messages costs one group_send per workspace
(per FRAMES_PER_EVENT frames), not 200, and the 50 sockets of a busy workspace never
re-serialise the same frame. Publishing is best effort: a failure is logged and never
breaks the write that caused it (signals.send_robust also guards this).
"""

import json
import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

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


def publish_frames(frames: Iterable[dict]) -> int:
    """Send frames to their workspaces' groups; returns the number of group_send calls."""
    per_workspace: dict[str, list[str]] = defaultdict(list)
    for frame in frames:
        per_workspace[frame["workspaceId"]].append(_dump(frame))
    sends = [
        (group_name(ws), {"type": BATCH_EVENT_TYPE, "frames": texts[i : i + FRAMES_PER_EVENT]})
        for ws, texts in per_workspace.items()
        for i in range(0, len(texts), FRAMES_PER_EVENT)
    ]
    if not sends:
        return 0
    layer = get_channel_layer()
    if layer is None:  # no CHANNEL_LAYERS configured: nobody can be listening
        return 0
    # One async_to_sync for the whole commit: it runs on the server's event loop when
    # called from a sync view (in-memory layer queues live there) and on a short-lived
    # loop in a worker process (Redis layer).
    async_to_sync(_group_send_all)(layer, sends)
    return len(sends)


async def _group_send_all(layer, sends: list[tuple[str, dict]]) -> None:
    for group, event in sends:
        try:
            await layer.group_send(group, event)
        except Exception:  # one group failing must not stop the others
            log.exception("live: group_send to %s failed", group)


# --- signal receivers (connected in messaging.listeners) ---------------------------------


def on_status_changed(sender=None, changes: list[StatusChange] = (), **kwargs) -> None:
    publish_frames(status_frame(change) for change in changes)


def on_message_received(sender=None, message_ids: list = (), **kwargs) -> None:
    if not message_ids:
        return
    rows = Message.objects.filter(id__in=list(message_ids)).values(
        "id", "workspace_id", "channel_id", "sender", "body", "created_at"
    )
    publish_frames(incoming_frame(row) for row in rows.order_by("created_at"))


def on_endpoint_state_changed(sender=None, states: list[EndpointState] = (), **kwargs) -> None:
    publish_frames(endpoint_frame(state) for state in states)
