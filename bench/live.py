"""Benchmark: /ws/live/ fan-out — N sockets, status events at a fixed rate, p99 and losses.

    .venv/bin/python bench/live.py --layer memory   [--sockets 50 --rate 1000 --seconds 30]
    REDIS_URL=redis://127.0.0.1:6379/0 .venv/bin/python bench/live.py --layer redis

What runs where:
- the database is a throw-away SQLite file (or DATABASE_URL) with one workspace, one
  access key and rate × seconds / 3 accepted messages;
- N websocket clients (AccessKey auth, like any API client) run in this process and record,
  for every frame, now − frame["at"] (the status time written in the transaction, i.e.
  just before the commit) and which (message, status) pairs arrived;
- the publisher moves messages accepted → processing → sent → delivered with
  messaging.services.status.transition_many, `--per-commit` events per transaction, so
  frames take the production path: on-commit signal → messaging.live.events → channel layer
  → LiveConsumer → socket.
  · daphne is one process and the publisher another, like a django-q2 worker: the
    production shape. With Redis the worker's on-commit signal publishes into the layer;
    with the in-memory layer (the default set-up) daphne's relay reads the committed
    events from the database (messaging/live/relay.py, every LIVE_RELAY_INTERVAL_MS).
  · memory with --in-process-publisher: the publisher runs inside the daphne process, on
    its event loop with its ORM work in a sync thread as a view's would be, so the relay
    is woken by each commit instead of ticking; one process (one GIL) then does both.
Prints published events, frames expected/received, lost, duplicates, and latency
percentiles. Targets: p99 ≤ 250 ms, 0 lost.
"""

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PHASES = ["processing", "sent", "delivered"]


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()


# --- database ------------------------------------------------------------------------------


def prepare(messages: int) -> dict:
    """Fresh schema and data; returns ids and the access key for the other processes."""
    setup_django()
    from django.core.management import call_command

    from messaging.models import AccessKey, Channel, Message, Workspace

    call_command("migrate", verbosity=0)
    workspace = Workspace.objects.create(name=f"bench-live-{time.time_ns()}")
    key = AccessKey(workspace=workspace, name="bench", role="viewer")
    plaintext = key.set_token()
    key.save()
    channel = Channel.objects.create(workspace=workspace, name="bench", platform="sms", connector="sandbox")
    # paused: no dispatcher may touch them; the publisher alone moves them
    channel.paused = True
    channel.save()
    Message.objects.bulk_create(
        [
            Message(workspace=workspace, channel=channel, body={"type": "text", "text": {"text": "x"}})
            for _ in range(messages)
        ],
        batch_size=2000,
    )
    return {"workspace": str(workspace.id), "key": plaintext}


def message_ids(workspace_id: str) -> list:
    from messaging.models import Message

    return list(
        Message.objects.filter(workspace_id=workspace_id)
        .order_by("created_at", "id")
        .values_list("id", flat=True)
    )


def publish_plan(ids: list, total: int, per_commit: int) -> list[tuple[str, list]]:
    """(status, ids) per commit, in an order that only ever moves messages forward."""
    plan = []
    for status in PHASES:
        for i in range(0, len(ids), per_commit):
            plan.append((status, ids[i : i + per_commit]))
    events = 0
    out = []
    for status, chunk in plan:
        if events >= total:
            break
        out.append((status, chunk))
        events += len(chunk)
    return out


# --- publisher -------------------------------------------------------------------------------


def run_plan_sync(plan, rate: int, per_commit: int, step) -> tuple[int, float]:
    """Call step(status, ids) on schedule; returns (events published, seconds it took)."""
    interval = per_commit / rate
    start = time.monotonic()
    published = 0
    for n, (status, ids) in enumerate(plan):
        delay = start + n * interval - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        published += step(status, ids)
    return published, time.monotonic() - start


def transition(status: str, ids: list) -> int:
    from messaging.services.status import transition_many

    return len(transition_many(ids, status, actor="bench"))


def publisher_main(args) -> None:
    setup_django()
    plan = publish_plan(message_ids(args.workspace), args.rate * args.seconds, args.per_commit)
    published, took = run_plan_sync(plan, args.rate, args.per_commit, transition)
    print(json.dumps({"published": published, "seconds": round(took, 2)}), flush=True)


# --- in-process server (memory layer) ------------------------------------------------------------


def serve_with_publisher_main(args) -> None:
    """daphne's Server plus the publisher on its event loop (in-memory layer only)."""
    import daphne.server  # noqa: F401  installs the asyncio reactor first

    setup_django()
    from asgiref.sync import sync_to_async
    from daphne.endpoints import build_endpoint_description_strings
    from daphne.server import Server
    from twisted.internet import reactor

    from portal.asgi import application

    go = Path(args.go_file)

    async def publisher():
        while not go.exists():
            await asyncio.sleep(0.05)
        plan = await sync_to_async(
            lambda: publish_plan(message_ids(args.workspace), args.rate * args.seconds, args.per_commit)
        )()
        interval = args.per_commit / args.rate
        start = time.monotonic()
        published = 0
        for n, (status, ids) in enumerate(plan):
            delay = start + n * interval - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            published += await sync_to_async(transition)(status, ids)
        took = time.monotonic() - start
        Path(args.result_file).write_text(json.dumps({"published": published, "seconds": round(took, 2)}))

    reactor.callWhenRunning(lambda: asyncio.ensure_future(publisher()))
    endpoints = build_endpoint_description_strings(host="127.0.0.1", port=args.port)
    Server(application=application, endpoints=endpoints, signal_handlers=True, verbosity=0).run()


# --- clients --------------------------------------------------------------------------------------


class Stats:
    def __init__(self):
        self.latencies: list[float] = []
        self.seen: list[set] = []
        self.frames = 0
        self.duplicates = 0


async def client(
    url: str, origin: str, key: str, stats: Stats, index: int, ready: asyncio.Event, stop: asyncio.Event
):
    from bench._wsclient import connect

    seen: set = set()
    stats.seen.append(seen)
    latencies, loads, fromiso, now_of = stats.latencies, json.loads, datetime.fromisoformat, time.time

    def on_text(text: str) -> None:
        now = now_of()
        frame = loads(text)
        latencies.append(now - fromiso(frame["at"].replace("Z", "+00:00")).timestamp())
        pair = (frame["messageId"], frame["status"])
        if pair in seen:
            stats.duplicates += 1
        seen.add(pair)
        stats.frames += 1

    ws = await connect(url, {"Origin": origin, "Authorization": f"AccessKey {key}"}, on_text)
    ready.set()
    try:
        await stop.wait()
    finally:
        ws.close()


async def run_clients(args, port: int, key: str, start_publishing, wait_published) -> tuple[Stats, dict]:
    stats = Stats()
    url = f"ws://127.0.0.1:{port}/ws/live/"
    origin = f"http://127.0.0.1:{port}"
    stop = asyncio.Event()
    readies = [asyncio.Event() for _ in range(args.sockets)]
    tasks = [
        asyncio.ensure_future(client(url, origin, key, stats, i, readies[i], stop))
        for i in range(args.sockets)
    ]
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), timeout=30)
    start_publishing()
    result = await wait_published()
    expected = result["published"] * args.sockets
    deadline = time.monotonic() + args.drain
    while stats.frames < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    return stats, result


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit("server did not start")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """utime + stime of a live process (Linux), so figures can be read per frame."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def web_cpu_seconds(proc: subprocess.Popen, in_process: bool) -> float:
    """CPU of the web side: the one server process, or every daphne child of `serve`."""
    if in_process:
        return cpu_seconds(proc.pid)
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if ppid == proc.pid and b"daphne" in (entry / "cmdline").read_bytes():
                total += cpu_seconds(int(entry.name))
        except (OSError, ValueError):
            continue  # gone meanwhile
    return total


def stop_process(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def report(args, stats: Stats, result: dict, cpu: dict) -> None:
    expected = result["published"] * args.sockets
    lat = sorted(stats.latencies)

    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, int(p / 100 * len(lat)))] * 1000 if lat else float("nan")

    print(
        f"layer={args.layer} sockets={args.sockets} rate={args.rate}/s seconds={args.seconds} per_commit={args.per_commit}"
        f" publisher={'in the daphne process' if args.in_process_publisher else 'own process'}"
        f" web_processes={1 if args.in_process_publisher else args.web_processes}\n"
        f"published events: {result['published']} in {result['seconds']} s "
        f"({result['published'] / max(result['seconds'], 1e-9):.0f}/s)\n"
        f"frames expected: {expected}  received: {stats.frames}  lost: {expected - (stats.frames - stats.duplicates)}"
        f"  duplicates: {stats.duplicates}\n"
        f"latency commit→receipt ms: p50 {pct(50):.1f}  p90 {pct(90):.1f}  p99 {pct(99):.1f}  max {pct(100):.1f}"
        f"  mean {statistics.fmean(lat) * 1000 if lat else float('nan'):.1f}\n"
        f"CPU seconds: server {cpu['server']:.1f} ({cpu['server'] / max(stats.frames, 1) * 1e6:.0f} µs/frame"
        f"{', includes the publisher' if args.in_process_publisher else ''}), "
        f"clients {cpu['clients']:.1f} ({cpu['clients'] / max(stats.frames, 1) * 1e6:.0f} µs/frame); "
        f"load average at the end {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--layer", choices=["memory", "redis"], default="memory")
    parser.add_argument("--sockets", type=int, default=50)
    parser.add_argument("--rate", type=int, default=1000, help="status events per second")
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--per-commit", type=int, default=10, help="events per transaction")
    parser.add_argument("--drain", type=float, default=15, help="seconds to wait for late frames")
    parser.add_argument("--web-processes", type=int, default=1, help="daphne processes (manage.py serve)")
    parser.add_argument(
        "--in-process-publisher", action="store_true", help="memory layer: publish from inside the daphne process"
    )
    parser.add_argument("--role", default="bench", help=argparse.SUPPRESS)
    parser.add_argument("--workspace", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--go-file", help=argparse.SUPPRESS)
    parser.add_argument("--result-file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "publisher":
        return publisher_main(args)
    if args.role == "server":
        return serve_with_publisher_main(args)

    tmp = Path(tempfile.mkdtemp(prefix="sb-bench-live-"))
    if not os.environ.get("DATABASE_URL"):
        os.environ["SQLITE_PATH"] = str(tmp / "bench.sqlite3")
    if args.layer == "redis":
        if not os.environ.get("REDIS_URL"):
            raise SystemExit("--layer redis needs REDIS_URL")
        os.environ["CHANNEL_LAYER_PREFIX"] = f"benchlive{os.getpid()}"
    else:
        os.environ.pop("REDIS_URL", None)
    os.environ["LOG_LEVEL"] = "WARNING"
    total = args.rate * args.seconds
    data = prepare(-(-total // len(PHASES)))
    port = free_port()
    me = [sys.executable, str(Path(__file__).resolve())]
    common = [
        f"--rate={args.rate}",
        f"--seconds={args.seconds}",
        f"--per-commit={args.per_commit}",
        f"--workspace={data['workspace']}",
    ]
    if not (args.layer == "memory" and args.in_process_publisher):
        # The web side as `make run` starts it: manage.py serve (daphne, --web-processes of
        # them on the one port, plus a django-q2 cluster that has nothing to do here).
        server = subprocess.Popen(
            [sys.executable, "manage.py", "serve", "--port", str(port), "--workers", "1",
             "--web-processes", str(args.web_processes)],
            cwd=ROOT, stdout=subprocess.DEVNULL, start_new_session=True,
        )
        publisher: list[subprocess.Popen] = []

        def start():
            publisher.append(
                subprocess.Popen([*me, "--role=publisher", *common], cwd=ROOT, stdout=subprocess.PIPE)
            )

        async def published():
            out, _ = await asyncio.get_running_loop().run_in_executor(None, publisher[0].communicate)
            return json.loads(out.decode().strip().splitlines()[-1])
    else:
        go, result_file = tmp / "go", tmp / "result.json"
        server = subprocess.Popen(
            [
                *me,
                "--role=server",
                f"--port={port}",
                f"--go-file={go}",
                f"--result-file={result_file}",
                *common,
            ],
            cwd=ROOT,
        )

        def start():
            go.touch()

        async def published():
            while not result_file.exists():
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.05)
            return json.loads(result_file.read_text())

    try:
        wait_port(port, server)
        in_process = args.layer == "memory" and args.in_process_publisher
        server_cpu0, clients_cpu0 = web_cpu_seconds(server, in_process), time.process_time()
        stats, result = asyncio.run(run_clients(args, port, data["key"], start, published))
        cpu = {
            "server": web_cpu_seconds(server, in_process) - server_cpu0,
            "clients": time.process_time() - clients_cpu0,
        }
    finally:
        stop_process(server)
    report(args, stats, result, cpu)


if __name__ == "__main__":
    main()
