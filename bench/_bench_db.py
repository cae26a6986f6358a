"""A throw-away database for one benchmark run, and the figures every report prints.

SQLite by default: a fresh file in a temporary directory (WAL, as `make run` uses).
With DATABASE_URL set, that URL is only the admin connection: a dedicated database
`<prefix>_<pid>` is created on the same server and dropped at the end, so a benchmark
never touches anybody else's data.
"""

import os
import platform
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parents[1]


class BenchDatabase:
    """Context manager; `env` holds the variables that point Django at the database."""

    def __init__(self, prefix: str):
        self.admin_url = os.environ.get("DATABASE_URL", "")
        self.name = f"{prefix}_{os.getpid()}"
        self.env: dict[str, str] = {}
        self.tmpdir: str | None = None

    @property
    def is_postgres(self) -> bool:
        return bool(self.admin_url)

    def __enter__(self) -> "BenchDatabase":
        if self.is_postgres:
            with self._admin() as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.name}"')
                conn.execute(f'CREATE DATABASE "{self.name}"')
            parts = urlparse(self.admin_url)
            self.env["DATABASE_URL"] = urlunparse(parts._replace(path=f"/{self.name}"))
        else:
            self.tmpdir = tempfile.mkdtemp(prefix=f"{self.name}-")
            self.env["SQLITE_PATH"] = str(Path(self.tmpdir) / "bench.sqlite3")
        return self

    def __exit__(self, *exc) -> None:
        if self.is_postgres:
            with self._admin() as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        elif self.tmpdir:
            shutil.rmtree(self.tmpdir, ignore_errors=True)

    def _admin(self):
        import psycopg

        return psycopg.connect(self.admin_url.replace("postgres://", "postgresql://", 1), autocommit=True)

    def engine(self) -> str:
        if self.is_postgres:
            with self._admin() as conn:
                version = conn.execute("SHOW server_version").fetchone()[0]
            return f"PostgreSQL {version} (database {self.name}, dropped at the end)"
        return f"SQLite {sqlite3.sqlite_version} (WAL, file in {self.tmpdir}, removed at the end)"


def machine() -> str:
    return (
        f"nproc {os.cpu_count()}, Python {platform.python_version()} ({platform.machine()}), "
        f"{platform.system()} {platform.release()}"
    )


def load_average() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def command_line() -> str:
    shown = [f"{k}={v}" for k, v in os.environ.items() if k in ("DATABASE_URL", "REDIS_URL")]
    return " ".join([*shown, sys.executable.replace(str(ROOT) + "/", ""), *sys.argv])


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile of a non-empty list."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]
