"""portal.sqlite: writers of several processes queue on `<database>-writer.lock` (flock).

Runs on its own SQLite file in both suites (the PostgreSQL suite too): what is tested is
the embedded backend, not the configured database.
"""

import os
import subprocess
import sys
import threading
import time

import pytest
from django.db import OperationalError, connections, transaction

from portal.sqlite.base import WriterLock, write_lock

HOLDER = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
sys.stdin.readline()
"""

PROBE = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    print("free")
except BlockingIOError:
    print("taken")
"""


@pytest.fixture
def alias(tmp_path, django_db_blocker):
    """A database alias on a fresh SQLite file through portal.sqlite (2 s busy timeout)."""
    name = "writer_lock_test"
    path = tmp_path / "db.sqlite3"
    connections.settings[name] = connections.configure_settings(
        {
            "default": dict(connections.settings["default"]),
            name: {
                "ENGINE": "portal.sqlite",
                "NAME": str(path),
                "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 2, "init_command": "PRAGMA journal_mode=WAL;"},
            }
        }
    )[name]
    with django_db_blocker.unblock():
        with connections[name].cursor() as cursor:
            cursor.execute("CREATE TABLE item (value INTEGER)")
        try:
            yield name
        finally:
            connections[name].close()
            del connections[name]
            del connections.settings[name]


def lock_path(alias) -> str:
    return connections.settings[alias]["NAME"] + "-writer.lock"


def insert(alias, value: int) -> None:
    with transaction.atomic(using=alias):
        with connections[alias].cursor() as cursor:
            cursor.execute("INSERT INTO item (value) VALUES (%s)", [value])


def values(alias) -> list[int]:
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT value FROM item ORDER BY value")
        return [row[0] for row in cursor.fetchall()]


def start_holder(path: str) -> subprocess.Popen:
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, path], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    return holder


def probe(path: str) -> str:
    return subprocess.run([sys.executable, "-c", PROBE, path], capture_output=True, text=True, check=True).stdout.strip()


def test_a_write_transaction_holds_the_lock_file_until_it_commits(alias):
    path = lock_path(alias)
    with transaction.atomic(using=alias):
        with connections[alias].cursor() as cursor:
            cursor.execute("INSERT INTO item (value) VALUES (1)")
        assert probe(path) == "taken"  # another process would wait here
    assert probe(path) == "free"
    assert values(alias) == [1]


def test_a_writer_waits_for_another_process_and_goes_on_when_it_lets_go(alias):
    holder = start_holder(lock_path(alias))
    finished = []
    errors = []

    def write() -> None:
        try:
            insert(alias, 7)
            finished.append(time.monotonic())
        except Exception as exc:  # handed to the test below
            errors.append(exc)
        finally:
            connections[alias].close()

    writer = threading.Thread(target=write)
    try:
        writer.start()
        time.sleep(0.5)
        assert finished == []  # still queued behind the other process
        released = time.monotonic()
        holder.stdin.write("go\n")
        holder.stdin.flush()
        writer.join(5)
    finally:
        holder.kill()
        holder.wait()
    assert errors == []
    assert finished and finished[0] - released < 0.5  # woken by the release, not by a poll
    assert values(alias) == [7]


def test_a_writer_gives_up_after_the_busy_timeout_with_database_is_locked(alias):
    holder = start_holder(lock_path(alias))
    try:
        started = time.monotonic()
        with pytest.raises(OperationalError, match="database is locked"):
            insert(alias, 1)
        assert 1.5 < time.monotonic() - started < 5  # the 2 s busy timeout
    finally:
        holder.kill()
        holder.wait()
    insert(alias, 2)  # the lock is free again and the process can still write
    assert values(alias) == [2]
    assert probe(lock_path(alias)) == "free"


def test_a_forked_child_does_not_share_its_parents_lock(alias):
    """django-q2 forks its workers: a child must queue behind its parent, not hold its lock."""
    name = connections.settings[alias]["NAME"]
    with transaction.atomic(using=alias):
        with connections[alias].cursor() as cursor:
            cursor.execute("INSERT INTO item (value) VALUES (1)")
        pid = os.fork()
        if pid == 0:  # the child: only os._exit from here
            got = write_lock(name).acquire(timeout=0.3)
            os._exit(0 if not got else 1)
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0  # the child could not take the lock
    assert probe(lock_path(alias)) == "free"


def test_a_lock_file_that_cannot_be_made_is_a_database_error(tmp_path):
    lock = WriterLock(str(tmp_path / "missing-directory" / "db.sqlite3"))
    with pytest.raises(OperationalError, match="cannot lock"):
        lock.acquire(timeout=1)
    assert not lock.thread_lock.locked()  # nothing left held for the next writer


def test_after_a_given_up_wait_the_next_writer_gets_the_lock_when_it_frees(alias):
    """The waiting thread outlives a writer that gave up: when the other process lets go
    it hands the lock to the writer asking by then, and otherwise lets it go at once."""
    path = lock_path(alias)
    lock = write_lock(connections.settings[alias]["NAME"])
    holder = start_holder(path)
    try:
        assert not lock.acquire(timeout=0.2)  # gave up; the waiter stays blocked
        assert lock.waiter.blocked()
        got = []
        writer = threading.Thread(target=lambda: got.append(lock.acquire(timeout=5)))
        writer.start()
        time.sleep(0.2)
        assert got == []  # still queued behind the other process
        holder.stdin.write("go\n")
        holder.stdin.flush()
        writer.join(5)
        assert got == [True]
        assert probe(path) == "taken"  # this process holds it now
        lock.release()
        assert probe(path) == "free"
    finally:
        holder.kill()
        holder.wait()


def test_a_lock_a_given_up_wait_gets_later_is_let_go(alias):
    path = lock_path(alias)
    lock = write_lock(connections.settings[alias]["NAME"])
    holder = start_holder(path)
    try:
        assert not lock.acquire(timeout=0.2)
    finally:
        holder.kill()
        holder.wait()
    deadline = time.monotonic() + 5
    while lock.waiter.blocked() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert probe(path) == "free"  # nobody asked any more: not kept
    insert(alias, 3)  # and the process writes as before
    assert values(alias) == [3]
