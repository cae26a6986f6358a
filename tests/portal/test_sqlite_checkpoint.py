"""portal/sqlite/checkpoint.py: WAL checkpoints in a background thread, not in commits.

Runs on SQLite files of its own in both suites: what is tested is the embedded set-up.
"""

import logging
import os
import sqlite3
import threading
import time

from portal.sqlite.checkpoint import CHECKPOINT_PAGES, Checkpointer

MB = 1024 * 1024


def wal_database(path) -> sqlite3.Connection:
    """A WAL database whose writer never checkpoints by itself (as the writers of a
    process that has a checkpointer hardly ever do)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.execute("CREATE TABLE IF NOT EXISTS filler (data BLOB)")
    return conn


def write(conn: sqlite3.Connection, megabytes: int) -> None:
    conn.execute("BEGIN")
    for _ in range(megabytes * 4):
        conn.execute("INSERT INTO filler VALUES (?)", (os.urandom(256 * 1024),))
    conn.execute("COMMIT")


def test_a_written_wal_is_copied_into_the_database_and_then_reused(tmp_path):
    path = str(tmp_path / "db.sqlite3")
    conn = wal_database(path)
    write(conn, 6)
    assert os.path.getsize(path) < MB  # everything is still in the WAL only
    checkpointer = Checkpointer(path, interval=0.05)

    assert checkpointer.check() is True
    assert os.path.getsize(path) > 6 * MB  # the rows reached the database file
    assert checkpointer.check() is False  # nothing written since: nothing to do
    assert checkpointer.checkpoints == 1
    wal_size = os.path.getsize(f"{path}-wal")
    write(conn, 6)  # the writer starts the caught-up WAL over instead of growing it
    assert os.path.getsize(f"{path}-wal") <= wal_size + 64 * 1024
    assert checkpointer.check() is True and checkpointer.checkpoints == 2
    assert os.path.getsize(path) > 12 * MB
    assert conn.execute("SELECT count(*) FROM filler").fetchone()[0] == 48


def test_no_wal_is_nothing_to_do(tmp_path):
    path = str(tmp_path / "db.sqlite3")
    checkpointer = Checkpointer(path, interval=0.05)
    assert checkpointer.check() is False
    assert not os.path.exists(path)  # and looking created nothing
    assert checkpointer.checkpoints == 0


WRITER = """
import os, sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
conn.execute("PRAGMA wal_autocheckpoint=0")
for i in range(int(sys.argv[2])):
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO filler VALUES (?)", (os.urandom(6000),))
    conn.execute("COMMIT")
    conn.execute("SELECT count(*), sum(length(data)) FROM filler").fetchone()
"""


def test_checkpoints_beside_other_connections_and_processes_keep_the_database_sound(tmp_path):
    """The thread shares its process with the web process's own connections while other
    processes write: SQLite's POSIX locks belong to the process, so nothing here may open
    and close SQLite's files behind those connections' back (a version that read `-shm`
    did, dropping their locks, and corrupted the database under bench/send.py)."""
    import subprocess
    import sys

    path = str(tmp_path / "db.sqlite3")
    wal_database(path).close()
    checkpointer = Checkpointer(path, interval=0.002)
    checkpointer.start()
    errors = []

    def local_writer() -> None:
        conn = sqlite3.connect(path, isolation_level=None, timeout=30)
        conn.execute("PRAGMA wal_autocheckpoint=0")
        try:
            for _ in range(300):
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("INSERT INTO filler VALUES (?)", (os.urandom(6000),))
                conn.execute("COMMIT")
                conn.execute("SELECT count(*), sum(length(data)) FROM filler").fetchone()
        except sqlite3.Error as exc:
            errors.append(exc)
        finally:
            conn.close()

    try:
        others = [subprocess.Popen([sys.executable, "-c", WRITER, path, "300"]) for _ in range(2)]
        local = threading.Thread(target=local_writer)
        local.start()
        local.join()
        assert [p.wait(timeout=120) for p in others] == [0, 0]
    finally:
        checkpointer.stop()
    conn = sqlite3.connect(path)
    assert errors == []
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("SELECT count(*) FROM filler").fetchone()[0] == 900
    assert checkpointer.checkpoints >= 2


def test_the_thread_checkpoints_while_writers_go_on_and_survives_errors(tmp_path, caplog):
    path = str(tmp_path / "db.sqlite3")
    conn = wal_database(path)
    checkpointer = Checkpointer(path, interval=0.02)
    failures = []
    real_check = checkpointer.check

    def flaky_check():
        if not failures:
            failures.append(1)
            raise sqlite3.OperationalError("disk I/O error")
        return real_check()

    checkpointer.check = flaky_check
    caplog.set_level(logging.ERROR, logger="portal.sqlite.checkpoint")
    checkpointer.start()
    written = 0
    try:
        deadline = time.monotonic() + 30
        while checkpointer.checkpoints < 2 and time.monotonic() < deadline:
            write(conn, 1)  # the writer goes on while the thread checkpoints
            written += 1
    finally:
        checkpointer.stop()
    assert checkpointer.checkpoints >= 2
    assert "background checkpoint of" in caplog.text and path in caplog.text  # logged, then went on
    assert os.path.getsize(path) > 4 * MB
    assert conn.execute("SELECT count(*) FROM filler").fetchone()[0] == written * 4


def test_a_web_process_starts_one_checkpointer_only_when_asked_to(tmp_path, settings):
    """portal.daphne_web calls start_for_default_database() at start-up; serve sets
    SQLITE_BACKGROUND_CHECKPOINT for its children."""
    from portal.sqlite import checkpoint

    settings.SQLITE_BACKGROUND_CHECKPOINT = False
    assert checkpoint.start_for_default_database() is None

    name = str(tmp_path / "db.sqlite3")
    first = checkpoint.start("portal.sqlite", name, 0.02)
    try:
        assert first.is_alive() and first.database == name and first.interval == 0.02
        assert checkpoint.start("portal.sqlite", name, 0.02) is first  # one per process
    finally:
        first.stop()
        checkpoint._running = None
    assert checkpoint.start("django.db.backends.postgresql", "x", 0.02) is None  # checkpoints by itself


def test_with_a_background_checkpointer_the_writers_own_checkpoint_is_only_a_fallback(tmp_path):
    """The settings serve's children get: connections checkpoint by themselves only past
    FALLBACK_PAGES, should the thread stall; without the variable SQLite's default holds."""
    import subprocess
    import sys

    from django.conf import settings as django_settings

    from portal.sqlite.checkpoint import FALLBACK_PAGES

    probe = (
        "import django; django.setup(); from django.db import connection;"
        "print(connection.cursor().execute('PRAGMA wal_autocheckpoint').fetchone()[0])"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "SQLITE_BACKGROUND_CHECKPOINT")}
    env.update(SQLITE_PATH=str(tmp_path / "db.sqlite3"), DJANGO_SETTINGS_MODULE="portal.settings")

    def autocheckpoint(**extra) -> int:
        out = subprocess.run(
            [sys.executable, "-c", probe], env={**env, **extra}, cwd=django_settings.BASE_DIR,
            capture_output=True, text=True, check=True,
        )
        return int(out.stdout.strip())

    assert autocheckpoint(SQLITE_BACKGROUND_CHECKPOINT="1") == FALLBACK_PAGES
    assert autocheckpoint() == CHECKPOINT_PAGES
