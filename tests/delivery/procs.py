"""Start Django processes (qcluster, a one-off worker) on the test database, stop them by PID."""

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def db_env(**extra: str) -> dict:
    """The environment that points a child process at this test's database."""
    env = dict(os.environ)
    env.pop("Q_SYNC", None)
    sd = connection.settings_dict
    if settings.IS_POSTGRES:
        auth = quote(sd["USER"] or "")
        if sd.get("PASSWORD"):
            auth += ":" + quote(sd["PASSWORD"])
        env["DATABASE_URL"] = f"postgres://{auth}@{sd['HOST'] or '127.0.0.1'}:{sd['PORT'] or 5432}/{sd['NAME']}"
    else:
        env.pop("DATABASE_URL", None)
        env["SQLITE_PATH"] = str(sd["NAME"])
    env.update(extra)
    return env


def start(args: list[str], **env: str) -> subprocess.Popen:
    # Output goes to a file, not a pipe: a chatty cluster would fill a pipe and block.
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=db_env(**env),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: stopping it stops its workers
    )
    proc.log = log
    return proc


def output(proc: subprocess.Popen) -> str:
    proc.log.seek(0)
    return proc.log.read().decode(errors="replace")[-4000:]


def stop(proc: subprocess.Popen, timeout: float = 10) -> None:
    """SIGTERM (qcluster stops its workers), then SIGKILL the group if it lingers."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    else:
        try:  # the leader is gone; its workers may not be
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.log.close()


def wait_for(predicate, timeout: float, interval: float = 0.1, proc: subprocess.Popen | None = None):
    """Poll until predicate() is truthy; fail with the child's stderr if it died or time ran out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process exited {proc.returncode}: {output(proc)}")
        time.sleep(interval)
    tail = output(proc) if proc is not None else ""
    raise AssertionError(f"condition not met within {timeout} s\n{tail}")


def queue_name() -> str:
    """A queue of this test process's own: on a shared Redis, another process's cluster
    must not take (and run against its own database) the tasks this test queues."""
    return f"sbtest{os.getpid()}"


CLUSTER = (
    "from django_q.conf import Conf; Conf.CLUSTER_NAME = {name!r}; "
    "from django.core.management import call_command; call_command('qcluster')"
)


def start_cluster(**env: str) -> subprocess.Popen:
    """`manage.py qcluster` on this test's database, serving queue_name()."""
    return start(["shell", "-c", CLUSTER.format(name=queue_name())], **env)
