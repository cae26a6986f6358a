"""A shared (Redis) layer is published to from one long-lived loop per process, so its
connections are reused instead of opened per commit (as async_to_sync in a worker did)."""

import asyncio
import threading
from datetime import UTC, datetime

from channels.layers import BaseChannelLayer

from messaging.live.events import publish_frames, status_frame
from messaging.signals import StatusChange


class RecordingLayer(BaseChannelLayer):
    """Stands in for channels-redis: records the loop and thread of every group_send."""

    sends: list = []

    async def group_send(self, group, message):
        RecordingLayer.sends.append((group, len(message["frames"]), asyncio.get_running_loop(), threading.get_ident()))


def frame(n: int) -> dict:
    return status_frame(
        StatusChange(f"00000000-0000-0000-0000-00000000000{n}", "11111111-1111-1111-1111-111111111111", None,
                     "sent", "", datetime(2026, 1, 1, tzinfo=UTC))
    )


def test_commits_are_published_on_one_long_lived_loop(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "tests.live.test_publisher.RecordingLayer"}}
    RecordingLayer.sends.clear()

    assert publish_frames([frame(1), frame(2)]) == 1
    assert publish_frames([frame(3)]) == 1
    worker = threading.Thread(target=publish_frames, args=([frame(4)],))  # another thread of the process
    worker.start()
    worker.join(10)

    assert [(group, count) for group, count, _, _ in RecordingLayer.sends] == [
        ("live.ws.11111111111111111111111111111111", 2),
        ("live.ws.11111111111111111111111111111111", 1),
        ("live.ws.11111111111111111111111111111111", 1),
    ]
    loops = {loop for _, _, loop, _ in RecordingLayer.sends}
    threads = {thread for _, _, _, thread in RecordingLayer.sends}
    assert len(loops) == 1 and len(threads) == 1  # the same loop every time
    assert threading.get_ident() not in threads  # and not the caller's thread
