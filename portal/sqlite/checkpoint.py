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
web process runs a Checkpointer instead: a daemon thread that, every
SQLITE_CHECKPOINT_INTERVAL_MS (200), runs a PASSIVE checkpoint on a connection of its own
if the WAL was written to since its last one. A passive checkpoint takes no write lock:
writers keep appending meanwhile, and SQLite reuses the file from its start once a
checkpoint has caught up. Python's sqlite3 releases the GIL while SQLite works, so the
copy does not stop the process's requests either. Under load that is a checkpoint of
~1,000 pages every 200 ms (as often as SQLite's own would run), when idle none.

Whether the WAL was written to is read off `os.stat` (size, modification time, inode),
never by opening SQLite's files: SQLite locks them with POSIX locks, which belong to the
process, and closing any descriptor of a file drops all of the process's locks on it,
under its own connections' feet (a first version that read the WAL index from `-shm`
corrupted the database in bench/send.py within seconds).

The connections of those processes (and of the workers) keep an automatic checkpoint as
a fallback, at FALLBACK_PAGES (~40 MB): should the thread stall, the WAL still cannot
grow without bound. Everything else (tests, `manage.py` commands, runserver) keeps
SQLite's default.
"""

import logging
import os
import sqlite3
import threading

log = logging.getLogger(__name__)

CHECKPOINT_PAGES = 1000  # SQLite's own wal_autocheckpoint default (what connections get elsewhere)
FALLBACK_PAGES = 10_000  # the writers' own automatic checkpoint, in case the thread stalls


class Checkpointer(threading.Thread):
    """Checkpoints `database` every `interval` seconds when its WAL was written to meanwhile."""

    def __init__(self, database: str, interval: float):
        super().__init__(name="sqlite-checkpoint", daemon=True)
        self.database, self.wal, self.interval = database, f"{database}-wal", interval
        self.stopping = threading.Event()
        self.checkpoints = 0
        self._connection: sqlite3.Connection | None = None
        self._checkpointed: tuple | None = None  # the WAL's stat when last checkpointed

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
        """One look: checkpoint if the WAL changed since the last checkpoint; True if it ran one."""
        try:
            status = os.stat(self.wal)
        except FileNotFoundError:
            return False  # no WAL in use
        stamp = (status.st_ino, status.st_size, status.st_mtime_ns)
        if stamp == self._checkpointed:
            return False
        busy, _, _ = self._connect().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        if busy:  # another process's checkpointer is at it: look again next time
            return False
        # A commit during the checkpoint changes the stamp again, so the next look copies it.
        self._checkpointed = stamp
        self.checkpoints += 1
        return True

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
