"""Shared set-up of the delivery benchmarks: a database, a running qcluster, bulk messages.

The database comes from the environment like the app's: DATABASE_URL (PostgreSQL) or else
a fresh SQLite file var/bench.sqlite3 (WAL, as `make run` uses). It is migrated first.
The cluster serves a queue of its own, so a shared Redis carries nobody else's tasks.
"""

import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUEUE = f"bench{os.getpid()}"


def setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    os.environ.pop("Q_SYNC", None)
    if not os.environ.get("DATABASE_URL"):
        path = ROOT / "var" / "bench.sqlite3"
        path.parent.mkdir(exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        os.environ["SQLITE_PATH"] = str(path)
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command
    from django_q.conf import Conf

    Conf.CLUSTER_NAME = QUEUE
    call_command("migrate", verbosity=0)


def backend() -> str:
    from django.conf import settings

    broker = "redis" if settings.REDIS_URL else "orm"
    return f"{'postgresql' if settings.IS_POSTGRES else 'sqlite'} (broker: {broker})"


def start_cluster(workers: int = 2) -> subprocess.Popen:
    code = (
        f"from django_q.conf import Conf; Conf.CLUSTER_NAME = {QUEUE!r}; "
        "from django.core.management import call_command; call_command('qcluster')"
    )
    log = tempfile.TemporaryFile()
    env = dict(os.environ, Q_WORKERS=str(workers))
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    proc.log = log
    wait_until_ready(proc)
    return proc


def wait_until_ready(proc: subprocess.Popen, timeout: float = 60) -> None:
    """A no-op task's result comes back once the workers are up."""
    from django_q.tasks import async_task, result

    task_id = async_task("math.floor", 1.5)
    deadline = time.monotonic() + timeout
    while result(task_id) is None:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.log.seek(0)
            raise SystemExit(f"qcluster did not start:\n{proc.log.read().decode()[-3000:]}")
        time.sleep(0.1)


def stop_cluster(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    proc.log.close()


def make_channel(label: str):
    from messaging.models import Channel, Workspace

    workspace, _ = Workspace.objects.get_or_create(name=f"bench {label} {os.getpid()}")
    return Channel.objects.create(
        workspace=workspace, name=f"bench {label}", platform="sms", connector="sandbox", settings={"latency_ms": 0}
    )


def make_messages(channel, count: int, contacts: int = 1000, **fields) -> list:
    """`count` outgoing messages to a pool of contacts, inserted in bulk."""
    from django.utils import timezone

    from messaging.models import Contact, Message

    pool = Contact.objects.bulk_create(
        [Contact(workspace=channel.workspace, display_name=f"c{i}") for i in range(min(contacts, count))]
    )
    now = timezone.now()
    fields.setdefault("expires_at", now + timedelta(seconds=channel.default_validity))
    rows = [
        Message(
            workspace=channel.workspace,
            channel=channel,
            contact=pool[i % len(pool)],
            body={"type": "text", "text": {"text": f"bench {i}"}},
            created_at=now + timedelta(microseconds=i),
            **fields,
        )
        for i in range(count)
    ]
    Message.objects.bulk_create(rows, batch_size=1000)
    return rows


def wait_final(channel, count: int, timeout: float) -> float:
    """Wait until `count` messages of the channel are final; returns time.monotonic() then."""
    from messaging.models import FINAL_STATUSES, Message

    started = time.monotonic()
    while True:
        done = Message.objects.filter(channel=channel, status__in=FINAL_STATUSES).count()
        if done >= count:
            return time.monotonic()
        if time.monotonic() - started > timeout:
            raise SystemExit(f"only {done}/{count} messages final after {timeout} s")
        time.sleep(0.2)


def _process_cpu(keep) -> float:
    """CPU seconds (user + system) used so far by the live processes for which
    `keep(command name, stat fields after it)` is true (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            head, _, tail = (entry / "stat").read_text().rpartition(")")
        except OSError:
            continue  # gone meanwhile
        fields = tail.split()  # after "comm": state ppid pgrp ... utime(11) stime(12)
        if keep(head.partition("(")[2], fields):
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def group_cpu_seconds(pgid: int) -> float:
    """CPU time (user + system) used so far by the live processes of a process group (Linux)."""
    return _process_cpu(lambda name, fields: int(fields[2]) == pgid)


def named_cpu_seconds(names: set[str]) -> float:
    """CPU time used so far by the live processes whose command name is one of `names`
    (e.g. the local PostgreSQL server's backends, Redis): what a benchmark's requests cost
    the database besides the app's own processes (Linux)."""
    return _process_cpu(lambda name, fields: name in names)


def established_connections(pid: int, port: int) -> int:
    """Accepted TCP connections on local `port` whose socket process `pid` holds (Linux /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local_port, state, inode = int(fields[1].rsplit(":", 1)[1], 16), fields[3], fields[9]
            if local_port == port and state == "01" and inode in inodes:  # 01: ESTABLISHED
                count += 1
    return count


def load_average() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())
