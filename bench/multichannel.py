"""Benchmark: one seed-002 request with 1000 destinations vs a bare insert of 1000 messages.

    .venv/bin/python bench/multichannel.py [--runs 20]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python bench/multichannel.py

Each run POSTs /resources/v1/messaging through Django's test client (the whole request:
key check, JSON, validation, phone-number normalisation, channel choice, contact
lookup and creation, bulk inserts of messages, receiver links and events, the answer) to
1000 new phone numbers, and then makes the same 1000 Message objects from plain values
and bulk_creates them with nothing else (the floor any implementation pays). Prints p50/p99 of both and the ratio of the
p50s; the target is ≤ 2.5×.

The database comes from the environment: DATABASE_URL, or a fresh SQLite file
var/bench-multichannel.sqlite3 (WAL, as `make run` uses). The rows it makes belong to a
workspace of its own, removed at the end.
"""

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DESTINATIONS = 1000


def setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    if not os.environ.get("DATABASE_URL"):
        path = ROOT / "var" / "bench-multichannel.sqlite3"
        path.parent.mkdir(exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        os.environ["SQLITE_PATH"] = str(path)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def numbers(run: int) -> list[str]:
    # 415-2xx-xxxx: valid NANP numbers, new ones every run so contacts are created each time.
    return [f"+1415{2000000 + run * DESTINATIONS + i}" for i in range(DESTINATIONS)]


def request_body(run: int) -> str:
    return json.dumps(
        {
            "deliverychannel": "sms",
            "correlationid": f"bench-{run}",
            "channels": {"sms": {"text": "Your table is ready. Reply STOP to opt out."}},
            "destination": [{"msisdn": [n], "correlationid": f"r{run}-{i}"} for i, n in enumerate(numbers(run))],
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    setup_django()

    from django.conf import settings
    from django.db import connection, transaction
    from django.test import Client

    from messaging.models import Channel, Message, Service, Workspace

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    workspace = Workspace.objects.create(name=f"bench-multichannel-{uuid.uuid4().hex[:8]}")
    channel = Channel.objects.create(workspace=workspace, name="SMS", platform="sms", connector="sandbox")
    channel.paused = True  # nothing is sent while we measure; accepting is what is timed
    channel.save(update_fields=["paused"])
    service = Service(workspace=workspace, name="bench")
    key = service.set_token()
    service.save()
    client = Client()

    post_times: list[float] = []
    bare_times: list[float] = []
    try:
        for run in range(args.runs):
            body = request_body(run)
            started = time.perf_counter()
            resp = client.post("/resources/v1/messaging", body, content_type="application/json", HTTP_KEY=key)
            post_times.append(time.perf_counter() - started)
            if resp.status_code != 202 or len(resp.json()["response"]) != DESTINATIONS:
                raise SystemExit(f"run {run}: unexpected answer {resp.status_code} {resp.content[:300]!r}")

            # The floor: the same 1000 message rows (the values the POST stored, as plain data),
            # made into Message objects and written with one bulk_create, nothing else.
            stored = Message.objects.filter(workspace=workspace).order_by("-created_at")[:DESTINATIONS]
            values = [{f.attname: getattr(m, f.attname) for f in Message._meta.concrete_fields} for m in stored]
            for row in values:
                row["id"] = uuid.uuid4()
            started = time.perf_counter()
            with transaction.atomic():
                Message.objects.bulk_create([Message(**row) for row in values])
            bare_times.append(time.perf_counter() - started)
    finally:
        Message.objects.filter(workspace=workspace).delete()
        workspace.delete()

    post_p50, bare_p50 = statistics.median(post_times), statistics.median(bare_times)
    print(f"database: {connection.vendor}; {args.runs} runs of {DESTINATIONS} destinations")
    print(f"POST /resources/v1/messaging   p50 {post_p50 * 1000:8.1f} ms   p99 {percentile(post_times, 99) * 1000:8.1f} ms")
    print(f"bare bulk_create of 1000 rows  p50 {bare_p50 * 1000:8.1f} ms   p99 {percentile(bare_times, 99) * 1000:8.1f} ms")
    ratio = post_p50 / bare_p50
    print(f"ratio of p50s: {ratio:.2f}x (target <= 2.5x) -> {'OK' if ratio <= 2.5 else 'ABOVE TARGET'}")


if __name__ == "__main__":
    main()
