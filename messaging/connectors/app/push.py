"""Live frames to app users' /ws/app/ sockets, through the channel layer.

Each app user's sockets (any web process) join the group `appuser.<id>`; whoever writes
a message for the user publishes here, after commit, so a socket never announces data
that could still roll back. With the in-memory layer (no REDIS_URL) the frames are also
stored for the sockets held by other processes (messaging/connectors/app/relay.py).
Best effort: an app that misses a frame finds the message with `message/sync`.
"""

import json
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from messaging.connectors.app import relay

log = logging.getLogger(__name__)

EVENT_TYPE = "app.frames"  # handled by UserAppConsumer.app_frames


def group_name(app_user_id) -> str:
    return f"appuser.{int(app_user_id)}"


def push_now(frames_by_user: dict[int, list[dict]]) -> int:
    """Send frames to the users' groups now; returns the number of group_send calls."""
    texts = {
        user_id: [json.dumps(f, separators=(",", ":")) for f in frames]
        for user_id, frames in frames_by_user.items()
        if frames
    }
    layer = get_channel_layer()
    if not texts or layer is None:
        return 0
    if relay.layer_is_local():
        try:
            relay.record(texts)  # for this user's sockets in the other processes
        except Exception:  # their apps catch up with message/sync; this process's still get them
            log.exception("app push: could not store frames for %d user(s) for other processes", len(texts))
    sends = [(group_name(user_id), {"type": EVENT_TYPE, "frames": frames}) for user_id, frames in texts.items()]
    async_to_sync(_send_all)(layer, sends)
    return len(sends)


async def _send_all(layer, sends: list[tuple[str, dict]]) -> None:
    for group, event in sends:
        try:
            await layer.group_send(group, event)
        except Exception:  # one user's group failing must not stop the others
            log.exception("app push: group_send to %s failed", group)


def push_after_commit(frames_by_user: dict[int, list[dict]]) -> None:
    def push() -> None:
        try:
            push_now(frames_by_user)
        except Exception:
            log.exception("app push: could not publish frames to %d user(s)", len(frames_by_user))

    if any(frames_by_user.values()):
        transaction.on_commit(push)
