"""Benchmark: the engine device protocol — SendMessage → SendMessageSucceeded round trips
per second through one daphne process, and how many device sockets one process holds.

    .venv/bin/python bench/engine.py [--devices 200 --messages 4000 --sockets 1000]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_engine REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python bench/engine.py

What runs where:
- the database is a throw-away SQLite file (or DATABASE_URL, whose tables are recreated),
  with one engine channel and one endpoint per socket;
- daphne serves /ws/engine/ in its own process, as in production;
- the phones are asyncio websocket clients in this process, built on the same codec as
  `simulate_device`; each reports CONNECTED/ON/ON and answers every SendMessage at once;
- `--messages` messages are inserted as the send path leaves them (accepted), and a worker
  process (this script with --worker) runs the dispatcher (messaging.services.dispatch),
  as a django-q2 worker would.
  Without REDIS_URL the frames reach daphne's sockets through the database (the pump),
  with REDIS_URL through the shared channel layer.

Phase 1 (targets ≥ 500 round trips/s): time from the first dispatch to the last message
`sent`, with request→answer latency percentiles from the EngineRequest rows.
Phase 2 (target 1,000): open `--sockets` device connections to the one daphne process,
hold them, and report how many are connected (handshakes and rows marked connected) and
daphne's resident memory.
"""

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- database -------------------------------------------------------------------------------


def prepare(endpoints: int) -> tuple[str, list[str]]:
    """Fresh schema, one engine channel with `endpoints` phones; returns (channel id, tokens)."""
    from django.core.management import call_command

    from messaging.models import Channel, MessagingEndpoint, Workspace

    call_command("migrate", verbosity=0)
    Workspace.objects.filter(name="Bench engine").delete()
    workspace = Workspace.objects.create(name="Bench engine")
    channel = Channel.objects.create(workspace=workspace, name="Phones", platform="sms", connector="engine")
    tokens, rows = [], []
    for i in range(endpoints):
        endpoint = MessagingEndpoint(channel=channel, name=f"phone {i}")
        tokens.append(endpoint.set_token())
        rows.append(endpoint)
    MessagingEndpoint.objects.bulk_create(rows, batch_size=500)
    return str(channel.id), tokens


def insert_messages(channel_id: str, count: int) -> None:
    from django.utils import timezone

    from messaging.models import Channel, Message, Status

    channel = Channel.objects.get(pk=channel_id)
    now = timezone.now()
    rows = []
    for i in range(count):
        number = f"+1415555{i % 10000:04d}"
        rows.append(
            Message(
                workspace_id=channel.workspace_id,
                channel=channel,
                receiver={"contacts": [{"identifierKey": "phonenumber", "identifierValue": number}]},
                body={"type": "text", "text": {"text": f"bench message {i}"}},
                status=Status.ACCEPTED,
                validity=channel.default_validity,
                expires_at=now + timedelta(seconds=channel.default_validity),
                created_at=now + timedelta(microseconds=i),
            )
        )
    Message.objects.bulk_create(rows, batch_size=500)


def sent_count(channel_id: str) -> int:
    from messaging.models import Message, Status

    return Message.objects.filter(channel_id=channel_id, status=Status.SENT).count()


def connected_count(channel_id: str) -> int:
    from messaging.models import MessagingEndpoint

    return MessagingEndpoint.objects.filter(channel_id=channel_id, connected=True).count()


def ready_count(channel_id: str) -> int:
    from messaging.models import MessagingEndpoint

    return MessagingEndpoint.objects.filter(
        channel_id=channel_id, connected=True, connection_state="CONNECTED", send_permission="ON"
    ).count()


def latencies_ms(channel_id: str) -> list[float]:
    from messaging.models import EngineRequest

    rows = EngineRequest.objects.filter(endpoint__channel_id=channel_id, outcome="succeeded").values_list(
        "created_at", "answered_at"
    )
    return sorted((answered - created).total_seconds() * 1000 for created, answered in rows)


def stage_spread(channel_id: str) -> str:
    """When the first/last request was created (dispatch), handed over (sent_at), answered."""
    from django.db.models import Max, Min

    from messaging.models import EngineRequest

    agg = EngineRequest.objects.filter(endpoint__channel_id=channel_id).aggregate(
        c0=Min("created_at"), c1=Max("created_at"), s1=Max("sent_at"), a1=Max("answered_at")
    )
    if not agg["c0"]:
        return "no requests"
    at = lambda key: (agg[key] - agg["c0"]).total_seconds()  # noqa: E731
    count = EngineRequest.objects.filter(endpoint__channel_id=channel_id, outcome="succeeded").count()
    return (
        f"from the first SendMessage: last request created +{at('c1'):.2f}s, last handed to a socket "
        f"+{at('s1'):.2f}s, last answer recorded +{at('a1'):.2f}s\n"
        f"  round trips/s from the first SendMessage to the last answer: {count / max(at('a1'), 1e-6):.0f}"
    )


def worker_main(channel_id: str, total: int) -> None:
    """`bench/engine.py --worker CHANNEL TOTAL`: the django-q worker's part, in its own
    process — drain the outbox until every message is sent."""
    setup_django()
    from messaging.services import dispatch

    deadline = time.monotonic() + 600
    while sent_count(channel_id) < total and time.monotonic() < deadline:
        if not dispatch.dispatch_due():
            time.sleep(0.05)


# --- phones -------------------------------------------------------------------------------------


class Fleet:
    def __init__(self, url: str):
        self.url = url
        self.answered = 0
        self.handshakes = 0
        self.refused = 0
        self.sockets: list = []
        self.tasks: list[asyncio.Task] = []

    async def phone(self, token: str, answer: bool, gate: asyncio.Semaphore) -> None:
        from websockets.asyncio.client import connect

        from messaging.engine import codec

        async with gate:
            try:
                ws = await connect(
                    self.url,
                    additional_headers={"Authorization": f"Bearer {token}"},
                    proxy=None,
                    open_timeout=120,
                    ping_interval=None,
                    max_size=None,
                )
            except Exception as exc:
                self.refused += 1
                if self.refused <= 3:
                    print(f"  handshake failed: {exc!r}", file=sys.stderr)
                return
            self.handshakes += 1
            self.sockets.append(ws)
            await ws.send(codec.endpoint_state("CONNECTED", "ON" if answer else "OFF", "OFF"))
        try:
            async for raw in ws:
                frame = codec.decode(raw, expect=codec.TO_DEVICE)
                if frame.action == codec.SEND_MESSAGE:
                    await ws.send(codec.send_message_succeeded(frame.payload["token"]))
                    self.answered += 1
        except Exception:
            pass  # closed at the end of the bench

    def start(self, tokens: list[str], answer: bool, parallel: int = 50) -> None:
        gate = asyncio.Semaphore(parallel)
        self.tasks += [asyncio.create_task(self.phone(t, answer, gate)) for t in tokens]

    async def close(self) -> None:
        await asyncio.gather(*(ws.close() for ws in self.sockets), return_exceptions=True)
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def wait_for(check, timeout: float, what: str, interval: float = 0.2) -> float:
    started = time.monotonic()
    while not await asyncio.to_thread(check):
        if time.monotonic() - started > timeout:
            raise SystemExit(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)
    return time.monotonic() - started


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# --- phases --------------------------------------------------------------------------------------


async def throughput(url: str, channel_id: str, tokens: list[str], messages: int) -> None:
    fleet = Fleet(url)
    fleet.start(tokens, answer=True)
    took = await wait_for(lambda: ready_count(channel_id) == len(tokens), 180, f"{len(tokens)} phones ready")
    print(f"  {len(tokens)} phones connected and ready in {took:.1f}s")
    await asyncio.to_thread(insert_messages, channel_id, messages)
    started = time.monotonic()
    worker = subprocess.Popen([sys.executable, __file__, "--worker", channel_id, str(messages)], cwd=ROOT)
    try:
        await wait_for(lambda: sent_count(channel_id) >= messages, 600, f"{messages} messages sent", interval=0.1)
    finally:
        if worker.poll() is None:
            worker.terminate()
        worker.wait(timeout=30)
    elapsed = time.monotonic() - started
    lat = await asyncio.to_thread(latencies_ms, channel_id)
    print(f"  {messages} SendMessage → SendMessageSucceeded round trips in {elapsed:.2f}s")
    print(f"  round trips/s, wall clock incl. the worker's start-up: {messages / elapsed:.0f}  (target ≥ 500)")
    if lat:
        q = statistics.quantiles(lat, n=100)
        print(f"  request → answer recorded: p50 {q[49]:.0f} ms, p95 {q[94]:.0f} ms, p99 {q[98]:.0f} ms")
    print(f"  answers sent by the phones: {fleet.answered}")
    print(f"  stages: {await asyncio.to_thread(stage_spread, channel_id)}")
    await fleet.close()
    await wait_for(lambda: connected_count(channel_id) == 0, 120, "phones to disconnect")


async def capacity(url: str, channel_id: str, tokens: list[str], daphne_pid: int) -> None:
    before = rss_mb(daphne_pid)
    fleet = Fleet(url)
    started = time.monotonic()
    fleet.start(tokens, answer=False)
    await wait_for(lambda: fleet.handshakes + fleet.refused >= len(tokens), 600, "all handshakes")
    took = time.monotonic() - started
    try:
        await wait_for(lambda: connected_count(channel_id) >= fleet.handshakes, 120, "connections recorded")
    except SystemExit as exc:
        print(f"  {exc}")
    held = await asyncio.to_thread(connected_count, channel_id)
    await asyncio.sleep(2)
    alive = sum(1 for ws in fleet.sockets if ws.state.name == "OPEN")
    print(f"  {fleet.handshakes}/{len(tokens)} handshakes accepted in {took:.1f}s ({fleet.refused} failed)")
    print(f"  {held} endpoints marked connected; {alive} sockets still open after 2 s")
    print(f"  daphne RSS: {before:.0f} MB before, {rss_mb(daphne_pid):.0f} MB holding them")
    await fleet.close()


async def main_async(args, url: str, channel_id: str, tokens: list[str], daphne_pid: int) -> None:
    print(f"phase 1: {args.devices} phones, {args.messages} messages")
    await throughput(url, channel_id, tokens[: args.devices], args.messages)
    print(f"phase 2: {args.sockets} device sockets on one daphne process")
    await capacity(url, channel_id, tokens[: args.sockets], daphne_pid)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--messages", type=int, default=4000)
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--worker", nargs=2, metavar=("CHANNEL", "TOTAL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker_main(args.worker[0], int(args.worker[1]))

    tmp = tempfile.mkdtemp(prefix="bench-engine-")
    if not os.environ.get("DATABASE_URL"):
        os.environ["SQLITE_PATH"] = os.path.join(tmp, "bench.sqlite3")
    os.environ.pop("Q_SYNC", None)
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    setup_django()
    from django.conf import settings

    channel_id, tokens = prepare(max(args.devices, args.sockets))
    layer = "redis" if settings.REDIS_URL else "in-memory (frames via the database pump)"
    print(f"database: {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}, channel layer: {layer}")

    port = free_port()
    log = open(os.path.join(tmp, "daphne.log"), "w")  # noqa: SIM115 - closed below
    daphne = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "portal.asgi:application"],
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
            if daphne.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"daphne did not start; see {log.name}")
            time.sleep(0.2)
        asyncio.run(main_async(args, f"ws://127.0.0.1:{port}/ws/engine/", channel_id, tokens, daphne.pid))
    finally:
        daphne.send_signal(signal.SIGTERM)
        try:
            daphne.wait(timeout=15)
        except subprocess.TimeoutExpired:
            daphne.kill()
        log.close()
    print(f"(daphne log: {log.name})")


if __name__ == "__main__":
    main()
