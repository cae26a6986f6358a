"""SQLite WAL checkpoints in a background thread instead of inside writers' commits.

In WAL mode every commit appends the pages it changed to the `-wal` file, and by default
the commit that takes the file past 1,000 pages (`wal_autocheckpoint`) then copies the
file back into the database, and syncs it, before it returns. That writer still holds
the write lock (portal/sqlite/base.py queues writers on it), so every other writer of
every process waits for the copy. A send changes ~30 pages (a message row with its
indexes, its event, its receiver link), so under load one commit in ~30 ran a
checkpoint: in-process that was 0.6 of the 1.0 ms a send's COMMIT took, and of the
2.3 ms it held the write lock.

Under `manage.py serve` (which sets SQLITE_BACKGROUND_CHECKPOINT for its children) each
web process runs a Checkpointer instead: a daemon thread that looks at the WAL's size
every SQLITE_CHECKPOINT_INTERVAL_MS how many frames of the WAL are not in the database
yet and, from 1,000, runs a PASSIVE checkpoint on a connection of its own. A passive checkpoint takes no write lock: writers keep
appending meanwhile, and SQLite reuses the file from its start once a checkpoint has
caught up. Python's sqlite3 releases the GIL while SQLite works, so the copy does not
stop the process's requests either.

The connections of those processes (and of the workers) keep an automatic checkpoint as
a fallback, at FALLBACK_PAGES (~40 MB): should the thread stall, the WAL still cannot
grow without bound. Everything else (tests, `manage.py` commands, runserver) keeps
SQLite's default.
"""

import logging
import sqlite3
import struct
import threading

log = logging.getLogger(__name__)

CHECKPOINT_PAGES = 1000  # SQLite's own wal_autocheckpoint default
FALLBACK_PAGES = 10_000  # the writers' own automatic checkpoint, in case the thread stalls
_SHM_HEADER = 100  # two copies of the 48-byte WAL index header, then nBackfill at offset 96


class Checkpointer(threading.Thread):
    """Checkpoints `database` whenever CHECKPOINT_PAGES frames of its WAL wait to be copied."""

    def __init__(self, database: str, interval: float):
        super().__init__(name="sqlite-checkpoint", daemon=True)
        self.database, self.shm, self.interval = database, f"{database}-shm", interval
        self.stopping = threading.Event()
        self.checkpoints = 0
        self._connection: sqlite3.Connection | None = None

    def run(self) -> None:
        failures = 0
        while not self.stopping.wait(self.interval if not failures else min(self.interval * 2**failures, 30)):
            try:
                self.check()
                failures = 0
            except Exception:  # a bad moment (disk full, permissions) must not end the thread
                failures += 1
                if failures == 1:  # once per streak, not every tick; the writers' fallback still holds
                    log.exception("background checkpoint of %s failed; retrying with back-off", self.database)
                try:
                    self._close()
                except Exception:  # the connection is being dropped anyway; say so, go on
                    log.debug("closing the checkpoint connection of %s failed", self.database, exc_info=True)

    def check(self) -> bool:
        """One look: checkpoint if CHECKPOINT_PAGES or more frames of the WAL are not yet
        in the database; True if it ran one."""
        if self.pending_frames() < CHECKPOINT_PAGES:
            return False
        busy, _, _ = self._connect().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        if not busy:  # busy: another process's checkpointer is at it (next look retries)
            self.checkpoints += 1
        return not busy

    def pending_frames(self) -> int:
        """Frames written to the WAL and not yet copied into the database, read off the
        WAL index (`<database>-shm`) without a lock: mxFrame of its header minus nBackfill
        of its checkpoint info (https://www.sqlite.org/walformat.html, native byte order).
        Not the WAL file's size: SQLite reuses the file from its start after a checkpoint,
        so once large it stays large. A torn read only makes one look early or late."""
        try:
            with open(self.shm, "rb") as shm:
                header = shm.read(_SHM_HEADER)
        except FileNotFoundError:
            return 0  # no WAL in use
        if len(header) < _SHM_HEADER:
            return 0
        max_frame, backfilled = struct.unpack_from("=I", header, 16)[0], struct.unpack_from("=I", header, 96)[0]
        return max(max_frame - backfilled, 0)

    def stop(self) -> None:
        self.stopping.set()
        self.join()
        self._close()

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            # Autocommit, no transaction of its own: a checkpoint needs none.
            self._connection = sqlite3.connect(self.database, timeout=5, isolation_level=None, check_same_thread=False)
        return self._connection

    def _close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


_running: Checkpointer | None = None


def start_for_default_database() -> Checkpointer | None:
    """Start this process's checkpointer when settings ask for one (SQLite, under serve)."""
    from django.conf import settings

    if not getattr(settings, "SQLITE_BACKGROUND_CHECKPOINT", False):
        return None
    database = settings.DATABASES["default"]
    return start(database["ENGINE"], str(database["NAME"]), settings.SQLITE_CHECKPOINT_INTERVAL_MS / 1000)


def start(engine: str, name: str, interval: float) -> Checkpointer | None:
    """The process's one Checkpointer for database `name` (started if need be); None for
    a database that is not ours (PostgreSQL checkpoints by itself)."""
    global _running
    if engine != "portal.sqlite":
        return None
    if _running is None or not _running.is_alive():
        _running = Checkpointer(name, interval)
        _running.start()
    return _running
