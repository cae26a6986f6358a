"""SQLite backend that queues a process's writers on a lock instead of in SQLite's busy loop.

SQLite has one write lock per database. A writer that finds it taken waits in SQLite's
busy handler, which sleeps and retries with growing pauses (up to 100 ms each), in no
order: under load a waiting writer can lose the race again and again while newcomers win
(bench/send.py measured send p99 of seconds with 20 clients). Within one process the
waiters need not poll at all: this backend takes a process-wide lock (one per database
file) before `BEGIN IMMEDIATE` and releases it when the transaction ends, so threads of a
web process queue on it and only the one holding it meets other processes' writers in
SQLite's busy handler. Everything else is Django's own sqlite3 backend.

Between processes (several daphne processes of `serve --web-processes`, the django-q2
workers) the queue is an exclusive `flock` on a file beside the database
(`<database>-writer.lock`), taken by the one thread of a process that holds the process's
lock: a waiting process is woken the moment the writer before it commits, instead of
finding out in SQLite's next busy-handler poll, up to 100 ms later (with two web processes
that poll made the send p99 of bench/send.py 370 ms). A process that dies holding it
loses it with its file descriptors. Writers that do not use this backend (the sqlite3
shell, another program) still meet SQLite's own lock and busy timeout as before.

The wait is bounded by the same busy timeout as SQLite's; running out raises the same
OperationalError ("database is locked").
"""

import fcntl
import os
import threading
import time

from django.db import OperationalError
from django.db.backends.sqlite3 import base, creation


class WriterLock:
    """One database's writer queue: a thread lock for this process, then a `flock` on the
    database's lock file for the processes sharing it."""

    def __init__(self, name: str):
        self.thread_lock = threading.Lock()
        self.path = _lock_file_path(name)
        self.fd: int | None = None
        self.waiter: _FlockWaiter | None = None

    def acquire(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        if not self.thread_lock.acquire(timeout=timeout):
            return False
        if self.path is None:
            return True
        try:
            if self._flock(deadline):
                return True
        except OSError as exc:  # e.g. the lock file cannot be created next to the database
            self.thread_lock.release()
            raise OperationalError(f"cannot lock {self.path}: {exc}") from exc
        except BaseException:
            self.thread_lock.release()
            raise
        self.thread_lock.release()
        return False

    def release(self) -> None:
        try:
            if self.fd is not None:
                fcntl.flock(self.fd, fcntl.LOCK_UN)
        finally:
            self.thread_lock.release()

    def _flock(self, deadline: float) -> bool:
        if self.fd is None:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self.waiter = _FlockWaiter(self.fd)
        if not self.waiter.blocked():
            # (Never while the waiter is blocked on this descriptor for an earlier, given-up
            # wait: it would then take the lock this thread holds and let it go again.)
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                pass
        # Held by another process: the waiter thread blocks in the kernel (woken at once
        # on release) so this wait can be bounded.
        return self.waiter.wait_for_lock(deadline)

    def forget_after_fork(self) -> None:
        """In a forked child: the inherited descriptor shares the parent's lock; drop it.
        (The parent's waiter thread did not come along.)"""
        if self.fd is not None:
            os.close(self.fd)


class _FlockWaiter:
    """A thread that takes the `flock` for a writer of this process, so the writer can give
    up after its timeout: one thread per lock file for the process's life, started on the
    first wait (starting a thread per wait cost ~0.2 ms, and under load a third of a web
    process's writes waited).

    A writer that gives up leaves the thread blocked; when it gets the lock it hands it to
    whoever asks by then (a later writer of the process), or lets it go at once."""

    def __init__(self, fd: int):
        self.fd = fd
        self.cond = threading.Condition()
        self.request: _Request | None = None
        self.in_flock = False
        self.thread: threading.Thread | None = None

    def blocked(self) -> bool:
        with self.cond:
            return self.in_flock

    def wait_for_lock(self, deadline: float) -> bool:
        request = _Request()
        with self.cond:
            self.request = request
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, name="sqlite-writer-lock", daemon=True)
                self.thread.start()
            self.cond.notify()
        request.done.wait(max(deadline - time.monotonic(), 0))
        with self.cond:
            if not request.done.is_set():  # timed out: nobody of ours wants the lock now
                self.request = None
                return False
        if request.error is not None:
            raise request.error
        return True

    def _run(self) -> None:
        while True:
            with self.cond:
                while self.request is None:
                    self.cond.wait()
                self.in_flock = True
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX)
                error = None
            except OSError as exc:
                error = exc
            with self.cond:
                self.in_flock = False
                request, self.request = self.request, None
                if request is None:  # its writer gave up meanwhile
                    if error is None:
                        fcntl.flock(self.fd, fcntl.LOCK_UN)
                    continue
                request.error = error
                request.done.set()


class _Request:
    __slots__ = ("done", "error")

    def __init__(self):
        self.done = threading.Event()
        self.error: OSError | None = None


def _lock_file_path(name: str) -> str | None:
    """`<database>-writer.lock`, or None for an in-memory database (one process only)."""
    name = str(name)
    if not name or name == ":memory:" or name.startswith("file:") or "mode=memory" in name:
        return None
    return f"{name}-writer.lock"


_locks: dict[str, WriterLock] = {}
_locks_guard = threading.Lock()


def _reset_after_fork() -> None:
    """A forked child (django-q2's workers) starts with no writer in flight and opens the
    lock files afresh: a descriptor shared with the parent would share its lock too."""
    global _locks_guard
    for lock in _locks.values():
        lock.forget_after_fork()
    _locks.clear()
    _locks_guard = threading.Lock()


os.register_at_fork(after_in_child=_reset_after_fork)


def write_lock(name: str) -> WriterLock:
    with _locks_guard:
        lock = _locks.get(str(name))
        if lock is None:
            lock = _locks[str(name)] = WriterLock(name)
        return lock


class DatabaseCreation(creation.DatabaseCreation):
    def _destroy_test_db(self, test_database_name, verbosity):
        super()._destroy_test_db(test_database_name, verbosity)
        path = _lock_file_path(test_database_name)
        if path and not self.is_in_memory_db(test_database_name):
            try:
                os.remove(path)
            except FileNotFoundError:
                pass


class DatabaseWrapper(base.DatabaseWrapper):
    creation_class = DatabaseCreation
    _holds_write_lock = False

    def _write_lock_timeout(self) -> float:
        return float(self.settings_dict.get("OPTIONS", {}).get("timeout", 5))

    def _start_transaction_under_autocommit(self):
        lock = write_lock(self.settings_dict["NAME"])
        if not lock.acquire(timeout=self._write_lock_timeout()):
            raise OperationalError("database is locked (another writer kept the database for longer than the busy timeout)")
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
