"""A shared (Redis) layer is published to from one long-lived loop per process, so its
connections are reused instead of opened per commit (as async_to_sync in a worker did)."""

import asyncio
import json
import threading
import time
from datetime import UTC, datetime

from channels.layers import BaseChannelLayer

from messaging.live import events
from messaging.live.events import publish_frames, status_frame
from messaging.signals import StatusChange


class RecordingLayer(BaseChannelLayer):
    """Stands in for channels-redis: records the loop and thread of every group_send."""

    sends: list = []

    async def group_send(self, group, message):
        numbers = [int(json.loads(text)["messageId"][-1]) for text in message["frames"]]
        RecordingLayer.sends.append((group, numbers, asyncio.get_running_loop(), threading.get_ident()))


def frame(n: int) -> dict:
    return status_frame(
        StatusChange(f"00000000-0000-0000-0000-00000000000{n}", "11111111-1111-1111-1111-111111111111", None,
                     "sent", "", datetime(2026, 1, 1, tzinfo=UTC))
    )


def test_commits_are_coalesced_and_published_in_order_on_one_long_lived_loop(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "tests.live.test_publisher.RecordingLayer"}}
    RecordingLayer.sends.clear()

    assert publish_frames([frame(1), frame(2)]) == 1
    assert publish_frames([frame(3)]) == 1
    worker = threading.Thread(target=publish_frames, args=([frame(4)],))  # another thread of the process
    worker.start()
    worker.join(10)
    events._publisher.drain()
    later = threading.Thread(target=publish_frames, args=([frame(5)],))
    later.start()
    later.join(10)
    deadline = time.monotonic() + 5
    while sum(len(frames) for _, frames, _, _ in RecordingLayer.sends) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)

    groups = {group for group, _, _, _ in RecordingLayer.sends}
    assert groups == {"live.ws.11111111111111111111111111111111"}
    # Every frame, in commit order, in fewer layer messages than commits.
    assert [n for _, frames, _, _ in RecordingLayer.sends for n in frames] == [1, 2, 3, 4, 5]
    assert len(RecordingLayer.sends) < 4
    loops = {loop for _, _, loop, _ in RecordingLayer.sends}
    threads = {thread for _, _, _, thread in RecordingLayer.sends}
    assert len(loops) == 1 and len(threads) == 1  # the same loop every time
    assert threading.get_ident() not in threads  # and not the caller's thread
