"""Benchmark: one page of GET /workspaces/{w}/messages at 10k and at 1M messages in the table.

    .venv/bin/python bench/list.py [--sizes 10000,1000000] [--repeats 50]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/list.py

What runs where: everything in this process. The database is fresh — a SQLite file in a
temporary directory (WAL, as `make run` uses), or with DATABASE_URL (the admin
connection) a dedicated PostgreSQL database bench_list_<pid>, dropped at the end — and is
migrated first. Requests go through Django's test client (the whole Django request: URL
routing, middleware, AccessKey authentication, role check, filters, keyset pagination,
serializer with its tag and click queries, JSON), not over a socket.

The table is filled with raw bulk inserts (COPY on PostgreSQL, executemany in large
transactions on SQLite) of complete Message rows: two workspaces with two SMS channels
each, interleaved, created_at spread over a year and inserted in roughly time order (as
a live system inserts them), statuses mostly delivered with some sent / failed / expired.
PostgreSQL gets VACUUM ANALYZE after the load (autovacuum would do the same shortly);
SQLite gets no ANALYZE (the app never runs one).

At each size, every case below is requested --repeats times (after one unmeasured warm-up
request) in the first workspace, which holds half of the rows:
  first page            ?limit=50
  deep page             ?limit=50&pageToken=<the token of the middle of the workspace>
  delivered, first      ?limit=50&status=delivered          (~75% of rows)
  delivered, deep       ?limit=50&status=delivered&pageToken=<middle>
  failed, first         ?limit=50&status=delivery_failed    (~2% of rows)
Prints median and p99 per case and size, and the ratio of the medians largest/smallest
size (target <= 1.5: a page must not cost more as the table grows).
"""

import argparse
import json
import os
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._bench_db import BenchDatabase, command_line, load_average, machine, percentile  # noqa: E402

TARGET_RATIO = 1.5
SPAN = timedelta(days=365)
START = datetime(2025, 1, 1, tzinfo=UTC)
CHUNK = 50_000
# status, weight: what a busy SMS workspace's history looks like
STATUSES = [("delivered", 75), ("sent", 15), ("delivery_failed", 2), ("sending_failed", 1), ("expired", 5), ("accepted", 2)]
CASES = [
    ("first page", {}, False),
    ("deep page", {}, True),
    ("delivered, first", {"status": "delivered"}, False),
    ("delivered, deep", {"status": "delivered"}, True),
    ("failed, first", {"status": "delivery_failed"}, False),
]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,1000000", help="table sizes, ascending (default 10000,1000000)")
    parser.add_argument("--repeats", type=int, default=50, help="requests per case and size (default 50)")
    args = parser.parse_args()
    args.sizes = sorted(int(x) for x in args.sizes.split(","))
    return args


def setup_django(env: dict) -> None:
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.chdir(ROOT)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


# --- data -----------------------------------------------------------------------------------


def make_fixtures() -> dict:
    from messaging.models import AccessKey, Channel, Contact, Workspace

    channels, contacts = [], {}
    workspaces = [Workspace.objects.create(name=f"bench-list-{i}-{os.getpid()}") for i in range(2)]
    for ws in workspaces:
        for n in range(2):
            channels.append(Channel.objects.create(workspace=ws, name=f"sms {n}", platform="sms", connector="sandbox"))
        contacts[ws.id] = Contact.objects.bulk_create(
            [Contact(workspace=ws, display_name=f"c{i}") for i in range(200)]
        )
    key = AccessKey(workspace=workspaces[0], name="bench", role="viewer")
    plaintext = key.set_token()
    key.save()
    return {"workspace": workspaces[0], "channels": channels, "contacts": contacts, "key": plaintext}


class Filler:
    """Appends complete Message rows with raw SQL, in time order across calls."""

    def __init__(self, fixtures: dict, total: int):
        from django.db import connection

        from messaging.models import Message

        self.connection = connection
        self.fixtures = fixtures
        self.step = SPAN / total  # rows are spaced so the largest size fills the whole span
        self.done = 0
        self.rng = random.Random(7)
        self.table = Message._meta.db_table
        self.fields = Message._meta.concrete_fields
        self.columns = [f.column for f in self.fields]
        self.varying = {
            "id", "workspace_id", "channel_id", "contact_id", "receiver", "body", "status",
            "created_at", "updated_at", "last_status_at",
        }
        self.constants = {f.column: self._constant(f) for f in self.fields if f.column not in self.varying}
        self.statuses = [s for s, w in STATUSES for _ in range(w)]

    def _constant(self, field):
        value = None if field.null else field.get_default()
        if self.connection.vendor == "postgresql":  # COPY takes plain values; JSON as text
            return json.dumps(value) if field.get_internal_type() == "JSONField" and value is not None else value
        return field.get_db_prep_save(value, self.connection)

    def rows(self, count: int):
        ops, pg = self.connection.ops, self.connection.vendor == "postgresql"
        channels, contacts = self.fixtures["channels"], self.fixtures["contacts"]
        for i in range(self.done, self.done + count):
            channel = channels[i % len(channels)]
            contact = contacts[channel.workspace_id][self.rng.randrange(200)]
            # time order with jitter: neighbouring rows may swap, as concurrent senders do
            created = START + self.step * i + timedelta(milliseconds=self.rng.randrange(1000))
            updated = created + timedelta(seconds=5)
            value = {
                "id": uuid.uuid4(),
                "workspace_id": channel.workspace_id,
                "channel_id": channel.id,
                "contact_id": contact.id,
                "receiver": json.dumps({"contacts": [{"id": str(contact.id), "identifierKey": "phonenumber",
                                                      "identifierValue": f"+1415{2000000 + i % 1000000}"}]}),
                "body": json.dumps({"type": "text", "text": {"text": f"Your order {i} has shipped."}}),
                "status": self.statuses[self.rng.randrange(len(self.statuses))],
                "created_at": created,
                "updated_at": updated,
                "last_status_at": updated,
            }
            if not pg:
                for col in ("id", "workspace_id", "channel_id", "contact_id"):
                    value[col] = value[col].hex
                for col in ("created_at", "updated_at", "last_status_at"):
                    value[col] = ops.adapt_datetimefield_value(value[col])
            yield tuple(value[c] if c in value else self.constants[c] for c in self.columns)

    def fill(self, count: int) -> None:
        cols = ", ".join(self.connection.ops.quote_name(c) for c in self.columns)
        while count > 0:
            n = min(CHUNK, count)
            with self.connection.cursor() as cursor:
                if self.connection.vendor == "postgresql":
                    with cursor.cursor.copy(f"COPY {self.table} ({cols}) FROM STDIN") as copy:
                        for row in self.rows(n):
                            copy.write_row(row)
                else:
                    marks = ", ".join(["%s"] * len(self.columns))
                    from django.db import transaction

                    with transaction.atomic():
                        cursor.executemany(f"INSERT INTO {self.table} ({cols}) VALUES ({marks})", list(self.rows(n)))
            self.done += n
            count -= n


# --- measuring ------------------------------------------------------------------------------


def middle_token(workspace) -> str:
    """The nextPageToken a client holds half-way through the workspace's messages."""
    from messaging.dialects.channels_api.pagination import encode_token
    from messaging.models import Message

    rows = Message.objects.filter(workspace=workspace)
    half = rows.count() // 2
    row = rows.order_by("-created_at", "-id").values("created_at", "id")[half]
    return encode_token(row["created_at"], row["id"])


def explain(client, url: str, query: dict, headers: dict) -> str:
    """How the database runs the page's message query: PostgreSQL's EXPLAIN ANALYZE (plan
    nodes and execution time), SQLite's EXPLAIN QUERY PLAN."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        client.get(url, query, **headers)
    sql = next(q["sql"] for q in ctx.captured_queries if 'FROM "messaging_message"' in q["sql"] and "LIMIT" in q["sql"])
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) {sql}")
            lines = [r[0].strip() for r in cursor.fetchall()]
            keep = ("Limit", "->", "Rows Removed", "Sort Method", "Execution Time")
            return "; ".join(x.replace("->  ", "").replace(" on messaging_message", "") for x in lines if x.startswith(keep))
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
        return "; ".join(r[-1] for r in cursor.fetchall())


def measure(client, fixtures: dict, repeats: int, plans: dict) -> dict[str, list[float]]:
    url = f"/workspaces/{fixtures['workspace'].id}/messages"
    headers = {"HTTP_AUTHORIZATION": f"AccessKey {fixtures['key']}"}
    token = middle_token(fixtures["workspace"])
    times: dict[str, list[float]] = {}
    for name, params, deep in CASES:
        query = {"limit": "50", **params, **({"pageToken": token} if deep else {})}
        times[name] = []
        for attempt in range(repeats + 1):
            started = time.perf_counter()
            resp = client.get(url, query, **headers)
            elapsed = time.perf_counter() - started
            if resp.status_code != 200 or not resp.json()["results"]:
                raise SystemExit(f"{name}: unexpected answer {resp.status_code} {resp.content[:300]!r}")
            if attempt:  # the first request warms caches and is not counted
                times[name].append(elapsed)
        plans[name] = explain(client, url, query, headers)
    return times


def main() -> int:
    args = parse_args()
    invoked = command_line()
    with BenchDatabase("bench_list") as db:
        setup_django(db.env)
        engine = db.engine()
        from django.conf import settings
        from django.db import connection
        from django.test import Client

        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
        fixtures = make_fixtures()
        filler = Filler(fixtures, args.sizes[-1])
        client = Client()
        results: dict[int, dict[str, list[float]]] = {}
        loads: dict[int, str] = {}
        plans: dict[int, dict[str, str]] = {}
        print(f"database: {engine}", flush=True)
        try:
            for size in args.sizes:
                started = time.monotonic()
                filler.fill(size - filler.done)
                fill_s = time.monotonic() - started
                if connection.vendor == "postgresql":
                    with connection.cursor() as cursor:
                        cursor.execute(f"VACUUM ANALYZE {filler.table}")
                print(f"  {size:>9,} rows: filled in {fill_s:.1f} s; measuring ... ", end="", flush=True)
                plans[size] = {}
                results[size] = measure(client, fixtures, args.repeats, plans[size])
                loads[size] = load_average()
                print(loads[size], flush=True)
        finally:
            connection.close()  # so the dedicated database can be dropped
        report(args, engine, results, loads, plans, invoked)
    return 0


def report(args, engine: str, results: dict, loads: dict, plans: dict, invoked: str) -> None:
    small, large = args.sizes[0], args.sizes[-1]
    print()
    print(f"command:  {invoked}")
    print(f"machine:  {machine()}")
    print(f"database: {engine}")
    print(f"client:   Django test client in-process; limit=50; {args.repeats} requests per case (after 1 warm-up)")
    head = "".join(f"{f'{s:,} med':>14s}{'p99':>8s}" for s in args.sizes)
    print(f"{'case (ms)':20s}{head}{'ratio med':>11s}")
    worst = 0.0
    for name, _, _ in CASES:
        cells = "".join(
            f"{statistics.median(results[s][name]) * 1000:14.1f}{percentile(results[s][name], 99) * 1000:8.1f}"
            for s in args.sizes
        )
        ratio = statistics.median(results[large][name]) / statistics.median(results[small][name])
        worst = max(worst, ratio)
        print(f"{name:20s}{cells}{ratio:11.2f}")
    print(f"worst ratio {large:,}/{small:,}: {worst:.3f}  (target <= {TARGET_RATIO}) {'OK' if worst <= TARGET_RATIO else 'ABOVE TARGET'}")
    for size in args.sizes:
        print(f"{loads[size]} at the end of measuring {size:,} rows")
    print("query plans of the page's message query:")
    for size in args.sizes:
        for name, plan in plans[size].items():
            print(f"  {size:>9,} {name:18s} {plan}")


if __name__ == "__main__":
    sys.exit(main())
