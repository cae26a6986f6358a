"""A real daphne process on the test database, for tests that need a second process."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from django.conf import settings
from django.db import connection

START_SECONDS = 30


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def database_env() -> dict:
    """Environment that points another process at this test run's database."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return {"SQLITE_PATH": str(db["NAME"])}
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return {
        "DATABASE_URL": f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    }


@contextmanager
def daphne(log_dir: Path, drop_env: tuple[str, ...] = (), **extra_env: str) -> Iterator[str]:
    """Serve portal.asgi on a free loopback port; yields the base URL, stops it by PID.

    `drop_env` removes variables from the child's environment (e.g. REDIS_URL, to run it
    with the in-memory channel layer whatever this test run uses).
    """
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SQLITE_PATH", *drop_env)}
    env.update(database_env(), DJANGO_SETTINGS_MODULE="portal.settings", SECRET_KEY=settings.SECRET_KEY)
    env.update(extra_env)
    log_path = log_dir / f"daphne-{port}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "portal.asgi:application"],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_until_serving(process, base, log_path)
            yield base
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_serving(process: subprocess.Popen, base: str, log_path: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while True:
        assert process.poll() is None, log_path.read_text()
        try:
            if httpx.get(f"{base}/login/", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"daphne did not start within {START_SECONDS} s"
        time.sleep(0.1)
