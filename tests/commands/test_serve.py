"""`manage.py serve` as a real process: daphne answers, a qcluster child runs, and one
SIGINT stops the whole process tree."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings

from bench._cluster import established_connections
from portal.env import web_processes

DEADLINE = 90  # seconds: two Django start-ups on a busy 2-core machine


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def children_of(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except FileNotFoundError:
            pass
    return found


def descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        for child in children_of(todo.pop()):
            out.append(child)
            todo.append(child)
    return out


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except FileNotFoundError:
        return ""


def alive(pid: int) -> bool:
    """Running (a zombie waiting for a reaper counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def wait_until(predicate, deadline: float, what: str):
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def get_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except OSError:
        return None


@contextmanager
def serving(env: dict, port: int, *args: str, host: str = "127.0.0.1") -> Iterator[subprocess.Popen]:
    """`manage.py serve --port port *args`, answering on /admin/login/; on the way out one
    SIGINT, then SIGKILL for whatever of its process tree is left (by PID)."""
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--port", str(port), *args],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    tree: list[int] = []
    try:
        shown = f"[{host}]" if ":" in host else host
        wait_until(lambda: get_status(f"http://{shown}:{port}/admin/login/") == 200, time.monotonic() + DEADLINE, "daphne")
        tree = descendants(proc.pid)
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        for pid in [proc.pid, *tree]:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        proc.wait(timeout=10)


@pytest.fixture
def server_env(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "PORT")}
    # A private migrated SQLite file: the test's own database is not visible to other processes.
    env.update(SQLITE_PATH=str(tmp_path / "serve.sqlite3"), Q_WORKERS="1", DJANGO_SETTINGS_MODULE="portal.settings")
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=settings.BASE_DIR, env=env, check=True
    )
    return env


def test_it_serves_runs_the_workers_and_stops_everything_on_sigint(server_env, tmp_path):
    port = free_port()
    log = (tmp_path / "serve.log").open("w+")
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--port", str(port)],
        cwd=settings.BASE_DIR,
        env=server_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    tree: list[int] = []
    try:
        deadline = time.monotonic() + DEADLINE
        wait_until(lambda: get_status(f"http://127.0.0.1:{port}/admin/login/") == 200, deadline, "daphne")
        # The cluster logs "running." once its workers are up; then the whole tree exists.
        wait_until(lambda: "running." in Path(log.name).read_text(), deadline, "the cluster to run")
        tree = descendants(proc.pid)
        kinds = {p: cmdline(p) for p in children_of(proc.pid)}
        webs = [c for c in kinds.values() if "daphne" in c]
        assert len(webs) == web_processes("auto"), kinds  # the default: one per core, at most 4
        assert all(f"-p {port}" in c or "--fd" in c for c in webs), kinds
        assert any("qcluster" in c for c in kinds.values()), kinds
        assert len(tree) > 2, "the cluster runs worker processes under qcluster"

        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        wait_until(lambda: not any(alive(p) for p in tree), time.monotonic() + 15, "every child to exit")
        log.seek(0)
        output = log.read()
        assert f"Admin:     http://127.0.0.1:{port}/admin/" in output
        assert f"API docs:  http://127.0.0.1:{port}/api/docs/" in output
        assert "serve: stopped" in output
    finally:
        for pid in [proc.pid, *tree]:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        proc.wait(timeout=10)
        log.close()


def test_it_stops_the_web_server_when_the_workers_die(server_env, tmp_path):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--port", str(port)],
        cwd=settings.BASE_DIR,
        env=server_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    tree: list[int] = []
    try:
        deadline = time.monotonic() + DEADLINE
        wait_until(lambda: get_status(f"http://127.0.0.1:{port}/admin/login/") == 200, deadline, "daphne")
        cluster = wait_until(
            lambda: next((p for p in children_of(proc.pid) if "qcluster" in cmdline(p)), None), deadline, "qcluster"
        )
        tree = descendants(proc.pid)
        os.killpg(cluster, signal.SIGKILL)  # the cluster and its workers die unexpectedly
        assert proc.wait(timeout=30) != 0
        wait_until(lambda: not any(alive(p) for p in tree), time.monotonic() + 15, "daphne to exit")
        assert "qcluster exited with status" in proc.stderr.read()
    finally:
        for pid in [proc.pid, *tree]:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        proc.wait(timeout=10)


def test_a_bad_port_is_refused(tmp_path):
    env = {**os.environ, "SQLITE_PATH": str(tmp_path / "unused.sqlite3")}
    result = subprocess.run(
        [sys.executable, "manage.py", "serve", "--port", "99999"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "--port: 99999 is not a port number" in result.stderr


def test_several_web_processes_share_the_port(server_env, tmp_path):
    """--web-processes 2: two daphne processes accepting on one listening socket; requests
    are answered, and one Ctrl-C stops them all."""
    port = free_port()
    with serving(server_env, port, "--web-processes", "2") as proc:
        webs = [p for p in children_of(proc.pid) if "daphne" in cmdline(p) and "--fd" in cmdline(p)]
        assert len(webs) == 2
        tree = descendants(proc.pid)
        assert all(get_status(f"http://127.0.0.1:{port}/admin/login/") == 200 for _ in range(20))
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        wait_until(lambda: not any(alive(p) for p in tree), time.monotonic() + 15, "every child to exit")


def test_a_port_in_use_is_refused_not_shared(tmp_path):
    """SO_REUSEPORT sockets of one user share a port: serve must not quietly join another
    server's listening socket."""
    env = {**os.environ, "SQLITE_PATH": str(tmp_path / "unused.sqlite3")}
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "manage.py", "serve", "--port", str(port), "--web-processes", "2"],
            cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=60,
        )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr


def answered(client: socket.socket, port: int) -> bool:
    """One keep-alive GET on `client`, its whole answer read; True for a 200."""
    client.sendall(f"GET /admin/login/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = client.recv(65536)
        assert chunk, "the server closed the connection"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        body += client.recv(65536)
    return head.startswith(b"HTTP/1.1 200")


def test_a_burst_of_keep_alive_connections_is_spread_evenly_over_the_web_processes(server_env, tmp_path):
    """20 connections opened at once (a client pool starting up) end up 10 and 10 on the
    two daphne processes, give or take one (portal/balance.py: a shared socket alone had
    given 0/20 and 1/19, SO_REUSEPORT's hash 17/3 now and then), and each process keeps
    answering on its own."""
    port = free_port()
    with serving(server_env, port, "--web-processes", "2") as proc:
        webs = [p for p in children_of(proc.pid) if "daphne" in cmdline(p)]
        assert len(webs) == 2
        # Until both are serving: one still starting up leaves every connection to the other.
        warm: list[socket.socket] = []
        deadline = time.monotonic() + DEADLINE
        while not all(established_connections(pid, port) for pid in webs):
            assert time.monotonic() < deadline and len(warm) < 200, "both web processes serving"
            warm.append(socket.create_connection(("127.0.0.1", port), timeout=60))
            assert answered(warm[-1], port)
        for client in warm:
            client.close()
        wait_until(lambda: not any(established_connections(pid, port) for pid in webs),
                   time.monotonic() + 15, "the warm-up connections to close")
        clients = [socket.create_connection(("127.0.0.1", port), timeout=60) for _ in range(20)]
        try:
            assert all(answered(client, port) for client in clients)
            held = sorted(established_connections(pid, port) for pid in webs)
            assert all(answered(client, port) for client in clients)  # kept alive, still answered
        finally:
            for client in clients:
                client.close()
    assert sum(held) == 20, held
    assert held[0] >= 9, f"connections per web process: {held}"


def test_an_ipv6_host_gets_one_web_process_by_default(server_env, tmp_path):
    """daphne adopts IPv4 sockets only: the `auto` default must not make --host ::1 fail."""
    with serving(server_env, free_port(), "--host", "::1", host="::1") as proc:
        webs = [p for p in children_of(proc.pid) if "daphne" in cmdline(p)]
        assert len(webs) == 1
        # ... and its settings know it (WEB_THREADS' default depends on the count)
        assert b"WEB_PROCESSES=1" in Path(f"/proc/{webs[0]}/environ").read_bytes().split(b"\0")


def test_no_web_processes_is_refused(tmp_path):
    env = {**os.environ, "SQLITE_PATH": str(tmp_path / "unused.sqlite3")}
    result = subprocess.run(
        [sys.executable, "manage.py", "serve", "--port", str(free_port()), "--web-processes", "0"],
        cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 1
    assert "--web-processes: 0 must be 1 or more" in result.stderr


def test_on_sqlite_the_web_processes_checkpoint_the_wal_in_the_background(server_env, tmp_path):
    """Under serve no commit need copy the WAL back into the database while holding the
    write lock: a web process's thread does it (portal/sqlite/checkpoint.py). Rows a writer
    that never checkpoints by itself leaves in the WAL reach the database file."""
    import sqlite3

    path = server_env["SQLITE_PATH"]
    port = free_port()
    with serving(server_env, port, "--web-processes", "1"):
        conn = sqlite3.connect(path, isolation_level=None, timeout=30)
        conn.execute("PRAGMA wal_autocheckpoint=0")
        conn.execute("CREATE TABLE filler (data BLOB)")
        before = os.path.getsize(path)
        conn.execute("BEGIN IMMEDIATE")
        for _ in range(24):
            conn.execute("INSERT INTO filler VALUES (?)", (os.urandom(256 * 1024),))
        conn.execute("COMMIT")
        try:  # kept open: the last connection to close would checkpoint too
            wait_until(
                lambda: os.path.getsize(path) > before + 6 * 1024 * 1024, time.monotonic() + 30, "the background checkpoint"
            )
        finally:
            conn.close()
