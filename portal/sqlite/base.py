"""SQLite backend that queues a process's writers on a lock instead of in SQLite's busy loop.

SQLite has one write lock per database. A writer that finds it taken waits in SQLite's
busy handler, which sleeps and retries with growing pauses (up to 100 ms each), in no
order: under load a waiting writer can lose the race again and again while newcomers win
(bench/send.py measured send p99 of seconds with 20 clients). Within one process the
waiters need not poll at all: this backend takes a process-wide lock (one per database
file) before `BEGIN IMMEDIATE` and releases it when the transaction ends, so threads of a
web process queue on it and only the one holding it meets other processes' writers in
SQLite's busy handler. Everything else is Django's own sqlite3 backend.

The wait is bounded by the same busy timeout as SQLite's; running out raises the same
OperationalError ("database is locked").
"""

import os
import threading

from django.db import OperationalError
from django.db.backends.sqlite3 import base

_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def _reset_after_fork() -> None:
    """A forked child (django-q2's workers) starts with no writer in flight."""
    global _locks_guard
    _locks.clear()
    _locks_guard = threading.Lock()


os.register_at_fork(after_in_child=_reset_after_fork)


def write_lock(name: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(str(name), threading.Lock())


class DatabaseWrapper(base.DatabaseWrapper):
    _holds_write_lock = False

    def _write_lock_timeout(self) -> float:
        return float(self.settings_dict.get("OPTIONS", {}).get("timeout", 5))

    def _start_transaction_under_autocommit(self):
        lock = write_lock(self.settings_dict["NAME"])
        if not lock.acquire(timeout=self._write_lock_timeout()):
            raise OperationalError("database is locked (another thread of this process kept writing)")
        try:
            super()._start_transaction_under_autocommit()
        except BaseException:
            lock.release()
            raise
        self._holds_write_lock = True

    def _release_write_lock(self) -> None:
        if self._holds_write_lock:
            self._holds_write_lock = False
            write_lock(self.settings_dict["NAME"]).release()

    def _commit(self):
        try:
            return super()._commit()
        finally:
            self._release_write_lock()

    def _rollback(self):
        try:
            return super()._rollback()
        finally:
            self._release_write_lock()

    def _close(self):
        try:
            return super()._close()
        finally:
            self._release_write_lock()
