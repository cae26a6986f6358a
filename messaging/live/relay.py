"""Relaying message events committed by *other* processes to this process's live sockets.

Why: with the embedded default (no REDIS_URL) the channel layer is in-memory, so it only
reaches sockets of the process that calls group_send. Status changes are mostly committed
by the django-q2 worker (dispatch, retries, expiry), a separate process whose group_send
reaches nobody — the dashboard, served by daphne, would never hear them.

How: the MessageEvent table is append-only and every status change and every stored
incoming message appends a row in the same transaction. Each web process that holds live
sockets runs one asyncio task that reads the rows appended since its last look
(`id > cursor`, a primary-key range scan: one indexed query per tick, at most BATCH rows;
a commit made in this very process wakes it at once instead of waiting for the tick),
turns them into frames with messaging.live.events' builders and publishes them into the
local layer. While the relay is the source, the on-commit signal receivers publish
nothing for these events (messaging.live.events.layer_is_shared), so each frame is sent
once whichever process made the change. With Redis no relay runs and the signals publish.

The task starts with the first /ws/live/ socket (at the newest event id then, so nothing
older is replayed) and stops when the last one closes: an idle web process does not poll.

Ids and commit order: a transaction that took a lower id may commit after one with a
higher id (PostgreSQL with concurrent writers; SQLite serialises writers so it cannot).
The cursor therefore remembers skipped ids as short-lived holes and looks for them again
for HOLE_SECONDS — in the same query — so a late commit is still relayed, once.
"""

import asyncio
import contextvars
import logging
import time
from concurrent.futures import ThreadPoolExecutor

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import connections
from django.db.models import Max, Q

from messaging.live import events
from messaging.models import Direction, Message, MessageEvent, Status
from messaging.signals import StatusChange

log = logging.getLogger(__name__)

BATCH = 2000  # rows per tick; a full batch polls again at once instead of sleeping
# Polls start at least this far apart even when nudged: under a stream of commits the
# relay then sends a few larger batches per second (one layer message per socket each)
# instead of one tiny batch per commit, and a change still arrives within ~50 ms.
MIN_GAP_SECONDS = 0.05
HOLE_SECONDS = 10.0  # how long an id skipped by an uncommitted transaction is looked for
MAX_HOLES = 1000  # a bigger jump (sequence cache, deleted rows) is not worth tracking


def interval() -> float:
    """Seconds between polls (settings.LIVE_RELAY_INTERVAL_MS)."""
    return max(getattr(settings, "LIVE_RELAY_INTERVAL_MS", 200), 10) / 1000


class Cursor:
    """Where the relay is in the MessageEvent id sequence, plus ids it has not seen yet."""

    def __init__(self, last_id: int):
        self.last_id = last_id
        self.holes: dict[int, float] = {}  # id → monotonic time to stop looking for it

    def query(self) -> Q:
        condition = Q(id__gt=self.last_id)
        if self.holes:
            condition |= Q(id__in=list(self.holes))
        return condition

    def advance(self, ids: list[int], now: float) -> None:
        """Record rows just relayed (ascending ids)."""
        for row_id in ids:
            self.holes.pop(row_id, None)
            if row_id > self.last_id:
                if row_id - self.last_id - 1 <= MAX_HOLES - len(self.holes):
                    self.holes.update(dict.fromkeys(range(self.last_id + 1, row_id), now + HOLE_SECONDS))
                self.last_id = row_id
        self.holes = {row_id: until for row_id, until in self.holes.items() if until > now}


def latest_event_id() -> int:
    return MessageEvent.objects.aggregate(last=Max("id"))["last"] or 0


EVENT_FIELDS = (
    "id",
    "message_id",
    "status",
    "reason",
    "at",
    "message__workspace_id",
    "message__channel_id",
    "message__direction",
)
INCOMING_FIELDS = ("id", "workspace_id", "channel_id", "sender", "body", "created_at")


def _is_incoming_arrival(row: dict) -> bool:
    """The event a stored incoming message starts with (messaging.services.receive).

    Channel-less incoming rows are app users' inbox copies (messaging.services.app_messages),
    which the signal path does not publish either.
    """
    return (
        row["message__direction"] == Direction.INCOMING
        and row["status"] == Status.DELIVERED
        and row["message__channel_id"] is not None
    )


def poll(cursor: Cursor, limit: int = BATCH) -> tuple[list[dict], int]:
    """Frames for the events committed since the cursor (which moves on), and the row count.

    One query in the common case; a second, only when incoming messages arrived, loads
    their sender and text in one go.
    """
    rows = list(MessageEvent.objects.filter(cursor.query()).order_by("id").values(*EVENT_FIELDS)[:limit])
    if not rows:
        cursor.advance([], time.monotonic())
        return [], 0
    arrivals = [row["message_id"] for row in rows if _is_incoming_arrival(row)]
    incoming = {}
    if arrivals:
        incoming = {m["id"]: m for m in Message.objects.filter(id__in=arrivals).values(*INCOMING_FIELDS)}
    frames = []
    for row in rows:
        if _is_incoming_arrival(row):
            message = incoming.get(row["message_id"])
            if message is not None:  # deleted since: nothing to show
                frames.append(events.incoming_frame(message))
            continue
        change = StatusChange(
            row["message_id"],
            row["message__workspace_id"],
            row["message__channel_id"],
            row["status"],
            row["reason"],
            row["at"],
        )
        frames.append(events.status_frame(change))
    cursor.advance([row["id"] for row in rows], time.monotonic())
    return frames, len(rows)


# channel names of this process's live sockets; the relay runs while there are any
_sockets: set[str] = set()
_task: asyncio.Task | None = None
# Set (from any thread) when this process commits a change: the relay polls at once
# instead of at its next tick, so a change made here reaches the sockets with no delay.
_wake: asyncio.Event | None = None
# The relay's own thread (and so its own database connection): the shared sync thread that
# database_sync_to_async uses by default also serves every device socket's database work,
# and a busy fleet must not delay dashboard updates, nor the relay delay the phones.
_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="live-relay")


def _in_relay_thread(fn):
    return database_sync_to_async(fn, thread_sensitive=False, executor=_executor)


def running() -> bool:
    return _task is not None and not _task.done()


async def register(channel_name: str) -> None:
    """A live socket opened in this process: start the relay if this process needs one.

    The starting cursor is read before the caller accepts the socket, so a change the
    client makes right after connecting is after the cursor and is relayed.
    """
    global _task, _sockets
    if events.layer_is_shared():
        return
    loop = asyncio.get_running_loop()
    if _task is not None and _task.get_loop() is not loop:
        # A previous event loop (tests run one per scenario) is gone with its sockets.
        _task, _sockets = None, set()
    _sockets.add(channel_name)
    if running():
        return
    start = await _in_relay_thread(latest_event_id)()
    if running() or channel_name not in _sockets:  # another socket started it meanwhile / we left
        return
    # A fresh context: the task outlives the socket that started it and must not keep
    # that connection's context (and any per-connection executor) alive.
    global _wake
    _wake = asyncio.Event()
    _task = loop.create_task(_run(Cursor(start)), name="live-relay", context=contextvars.Context())


def unregister(channel_name: str) -> None:
    """A live socket closed; the last one stops the relay (restarted by the next connect)."""
    global _task
    _sockets.discard(channel_name)
    if not _sockets and running():
        _task.cancel()
        _task = None  # stopping now; the next connect starts a fresh one


def nudge(*args, **kwargs) -> None:
    """This process committed a message event: poll now. Thread-safe; nothing happens when
    no relay runs here. Connected (in messaging.listeners) to the on-commit signals."""
    task, wake = _task, _wake
    if task is None or task.done() or wake is None:
        return
    try:
        task.get_loop().call_soon_threadsafe(wake.set)
    except RuntimeError:  # the loop closed meanwhile (a test's scenario ended)
        pass


async def _run(cursor: Cursor) -> None:
    fetch = _in_relay_thread(poll)
    wake = _wake
    try:
        loop = asyncio.get_running_loop()
        while _sockets:
            rows = 0
            started = loop.time()
            wake.clear()  # before the poll: a nudge during it makes the next poll follow at once
            try:
                frames, rows = await fetch(cursor)
                if frames:
                    await events.apublish_frames(frames)
            except Exception:  # a database hiccup must not end live updates for good
                log.exception("live relay: polling MessageEvent after id %s failed; retrying", cursor.last_id)
            if rows < BATCH:
                try:
                    await asyncio.wait_for(wake.wait(), interval())
                except TimeoutError:
                    pass
                gap = MIN_GAP_SECONDS - (loop.time() - started)
                if gap > 0:
                    await asyncio.sleep(gap)
    finally:
        # An idle relay holds no database connection (a plain submit: this also runs
        # when the task is cancelled, after the poll in progress, on the same thread).
        _executor.submit(connections.close_all)
