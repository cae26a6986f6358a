"""Benchmark: import N contacts (default 100,000) with `manage.py importcontacts`.

    .venv/bin/python bench/import_contacts.py [ROWS]

Runs against a throw-away SQLite database in a temp directory (or DATABASE_URL when set,
in a workspace it creates and deletes), imports a generated CSV twice (all created, then
all updated) and prints wall time, this process's CPU time and rows per second for each
pass. (The database's own CPU is not in the figure on PostgreSQL.)
"""

import csv
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def generate(path: Path, rows: int) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["displayName", "phonenumber", "emailaddress", "customerid", "tier"])
        for i in range(rows):
            # 202-555-0100…0199 style numbers are not all valid; vary the exchange instead.
            writer.writerow(
                [
                    f"Person {i}",
                    f"+1202{200 + i // 10000:03d}{i % 10000:04d}",
                    f"p{i}@example.com",
                    f"c-{i}",
                    f"t{i % 5}",
                ]
            )


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    tmp = Path(tempfile.mkdtemp(prefix="sb-bench-"))
    if not os.environ.get("DATABASE_URL"):
        os.environ["SQLITE_PATH"] = str(tmp / "bench.sqlite3")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from messaging.models import Workspace

    call_command("migrate", verbosity=0)
    workspace = Workspace.objects.create(name=f"bench {time.time():.0f}")
    csv_path = tmp / "contacts.csv"
    generate(csv_path, rows)
    try:
        for label in ("create", "update"):
            started, cpu_started = time.perf_counter(), time.process_time()
            call_command(
                "importcontacts",
                "--workspace",
                str(workspace.id),
                str(csv_path),
                "--json",
                stdout=open(os.devnull, "w"),
            )
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
            # CPU time is printed too: on a busy machine wall time says more about the neighbours.
            print(
                f"{label}: {rows} rows in {elapsed:.1f}s wall, {cpu:.1f}s CPU ({rows / elapsed:,.0f} rows/s)"
            )
    finally:
        workspace.delete()


if __name__ == "__main__":
    main()
