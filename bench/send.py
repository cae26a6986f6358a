"""Benchmark: POST /workspaces/{w}/channels/{c}/messages against a bare DRF create, same server.

    .venv/bin/python bench/send.py [--clients 20] [--seconds 8 | --requests 3000] [--rounds 4]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/send.py

What runs where:
- a fresh database: a SQLite file in a temporary directory, or, with DATABASE_URL (the
  admin connection), a dedicated PostgreSQL database bench_send_<pid>, dropped at the end.
  A setup process migrates it and makes a workspace, a sender access key and a sandbox
  SMS channel (the helpers behind createworkspace/createaccesskey/createchannel);
- the stack as `make run` starts it: `manage.py serve` (daphne + the django-q2 cluster)
  on a free loopback port, with DJANGO_SETTINGS_MODULE=bench.settings_bench — the app's
  settings plus two benchmark-only URLs (bench/baseline.py; same authentication and
  permission, same body, one Message row inserted, 201): bench/baseline/... is DRF's
  CreateAPIView with a ModelSerializer — the "bare DRF create endpoint" of issue #3 —
  and bench/floor/... an APIView that calls Message.objects.create() with no serializer;
- this process: N concurrent clients (asyncio and the lean HTTP/1.1 client of
  bench/_httpclient.py, one keep-alive connection each; httpx cost the machine ~1.5 ms
  of CPU per request, taken from the server being measured)
  that POST the same JSON body to the send endpoint and to the two baselines, in
  alternating phases (baseline, floor, send, baseline, ...). Before each phase the delivery workers
  finish what the previous send phase accepted, so each phase starts from a quiet server;
  during a send phase they deliver what it accepts (as in production).
Prints requests/s, p50 and p99 per endpoint (all phases of the endpoint together), the
CPU per request of the web processes, the workers and the clients, the ratio
send/baseline throughput (and send/floor, for the record), errors, machine, database,
load averages, command line. Targets: ratio >= 0.8, p99 <= 100 ms. The server is stopped by PID at the end, also on
errors or Ctrl-C.
"""

import argparse
import asyncio
import json
import os
import random
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import _httpclient as http  # noqa: E402
from bench._bench_db import BenchDatabase, command_line, load_average, machine, percentile  # noqa: E402
from bench._cluster import established_connections, group_cpu_seconds, named_cpu_seconds  # noqa: E402

TARGET_RATIO = 0.8
TARGET_P99_MS = 100.0
PHASES = ("baseline", "floor", "send")
# Local servers whose CPU a request also costs (PostgreSQL backends, Redis): on two cores
# they compete with the web processes, so their share is reported too.
SERVICE_PROCESSES = {"postgres", "redis-server"}
NUMBERS = [f"+1415{2000000 + i}" for i in range(1000)]  # valid NANP numbers; contacts reused after first use


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20, help="concurrent clients (default 20)")
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each phase (default 8)")
    parser.add_argument("--requests", type=int, default=0, help="requests per phase instead of --seconds")
    # Short phases, alternated often: the machine's speed drifts between phases, and more
    # rounds spread that drift over every endpoint alike (2 x 15 s gave per-round ratios
    # 0.54 and 0.87 in one run).
    parser.add_argument("--rounds", type=int, default=4, help="baseline+floor+send rounds (default 4)")
    parser.add_argument("--warmup", type=int, default=100, help="unmeasured requests per endpoint first")
    parser.add_argument("--paused", action="store_true", help="pause the channel: no delivery work at all")
    parser.add_argument("--workers", type=int, default=None, help="django-q2 workers (default Q_WORKERS or 2)")
    parser.add_argument(
        "--web-processes", type=int, default=None, help="daphne processes (default: serve's, WEB_PROCESSES)"
    )
    parser.add_argument("--server-log", default="", help="also keep the server's whole output in this file")
    parser.add_argument("--setup", action="store_true", help=argparse.SUPPRESS)  # the setup process
    return parser.parse_args()


# --- setup (runs in a child process with the server's environment) ------------------------


def setup(paused: bool) -> None:
    import django

    django.setup()
    from django.core.management import call_command

    from messaging.management.base import (
        channel_settings,
        create_access_key,
        create_channel,
        create_workspace,
    )

    call_command("migrate", verbosity=0)
    workspace = create_workspace(f"bench-send-{os.getppid()}")
    _, key = create_access_key(workspace, "sender", "bench")
    channel, _ = create_channel(
        workspace, "sms", "sandbox", "bench sms", settings_values=channel_settings("sandbox", {"latency_ms": "0"})
    )
    if paused:
        channel.paused = True
        channel.save(update_fields=["paused"])
    print(json.dumps({"workspace": str(workspace.id), "channel": str(channel.id), "key": key}))


# --- the server -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_groups(pid: int) -> set[int]:
    """Process groups of a process's children (serve puts daphne and qcluster in their own)."""
    groups = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:  # fields after "comm": state ppid pgrp ...
            groups.add(int(fields[2]))
    return groups


def stop_server(proc: subprocess.Popen) -> None:
    """SIGTERM to serve (it stops daphne and the cluster in order), then SIGKILL leftovers."""
    groups = child_groups(proc.pid) | {proc.pid}
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(30)
        except subprocess.TimeoutExpired:
            pass
        except ProcessLookupError:
            pass
    for group in groups:
        try:
            os.killpg(group, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()


# --- clients --------------------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    latencies: list[float] = field(default_factory=list)
    elapsed: float = 0.0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    load: str = ""
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds of web / workers / clients in the phase

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0


def request_body() -> bytes:
    return json.dumps(
        {
            "receiver": {"contacts": [{"identifierKey": "phonenumber", "identifierValue": random.choice(NUMBERS)}]},
            "body": {"type": "text", "text": {"text": "Your table is ready."}},
            "reference": "bench",
        }
    ).encode()


def server_groups(serve_pid: int) -> dict[str, list[int]]:
    """{"web": the daphne processes' groups, "workers": the cluster's} (serve gives each its own)."""
    groups: dict[str, list[int]] = {"web": [], "workers": []}
    for pgid in child_groups(serve_pid):
        cmdline = Path(f"/proc/{pgid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        groups["web" if "daphne" in cmdline else "workers"].append(pgid)
    return groups


def cpu_seconds(groups: dict[str, list[int]]) -> dict[str, float]:
    """CPU seconds used so far by each part of the server, and by this process (the clients)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    seconds = {name: sum(group_cpu_seconds(g) for g in pgids) for name, pgids in groups.items()}
    for index, pgid in enumerate(groups.get("web", [])):  # how evenly the web processes share the load
        seconds[f"web-{index + 1}"] = group_cpu_seconds(pgid)
    seconds["clients"] = own.ru_utime + own.ru_stime
    seconds["services"] = named_cpu_seconds(SERVICE_PROCESSES)
    return seconds


class Clients:
    """One keep-alive connection per client (reopened if the server closes one)."""

    def __init__(self, port: int, headers: dict[str, str], count: int):
        self.port, self.headers, self.count = port, headers, count
        self.connections: list[http.HttpConnection] = []

    async def open(self) -> None:
        self.connections = [await http.connect("127.0.0.1", self.port, self.headers) for _ in range(self.count)]

    async def request(self, index: int, method: str, path: str, body: bytes = b"") -> http.Response:
        connection = self.connections[index]
        if connection.closed:
            connection = self.connections[index] = await http.connect("127.0.0.1", self.port, self.headers)
        return await connection.request(method, path, body)

    def close(self) -> None:
        for connection in self.connections:
            connection.close()


async def run_phase(clients: Clients, path: str, expected: int, args, name: str, groups: dict | None = None) -> Phase:
    phase = Phase(name)
    cpu0 = cpu_seconds(groups or {})
    budget = [args.requests] if args.requests else None
    started = time.perf_counter()
    deadline = started + args.seconds

    async def worker(index: int) -> None:
        while True:
            if budget is not None:
                if budget[0] <= 0:
                    return
                budget[0] -= 1
            elif time.perf_counter() >= deadline:
                return
            t0 = time.perf_counter()
            try:
                resp = await clients.request(index, "POST", path, request_body())
                ok = resp.status_code == expected
                problem = f"{resp.status_code} {resp.text[:200]}"
            except Exception as exc:  # a refused or reset connection counts as an error, not a crash
                ok, problem = False, repr(exc)
            if ok:
                phase.latencies.append(time.perf_counter() - t0)
            else:
                phase.errors += 1
                if len(phase.error_samples) < 3:
                    phase.error_samples.append(" ".join(problem.split())[:200])

    await asyncio.gather(*(worker(i) for i in range(clients.count)))
    phase.elapsed = time.perf_counter() - started
    phase.load = load_average()
    cpu1 = cpu_seconds(groups or {})
    phase.cpu = {k: cpu1[k] - cpu0[k] for k in cpu1}
    return phase


async def wait_ready(port: int, headers: dict, ids: dict, proc: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"serve exited with status {proc.returncode}")
        try:
            connection = await http.connect("127.0.0.1", port, headers)
            try:
                resp = await connection.request("GET", f"/workspaces/{ids['workspace']}/messages?limit=1")
            finally:
                connection.close()
            if resp.status_code == 200:
                return
        except OSError:  # not listening yet
            pass
        await asyncio.sleep(0.2)
    raise SystemExit("the server did not answer within 90 s")


async def wait_all_web_processes(port: int, headers: dict, ids: dict, serve_pid: int, timeout: float = 90) -> None:
    """With several daphne processes, until each of them accepts connections: one that is
    still starting would leave the whole client pool to the others for the run."""
    webs = [pid for pid in child_groups(serve_pid) if "daphne" in Path(f"/proc/{pid}/cmdline").read_text()]
    held: list[http.HttpConnection] = []
    deadline = time.monotonic() + timeout
    try:
        while not all(established_connections(pid, port) for pid in webs):
            if time.monotonic() > deadline or len(held) > 500:
                raise SystemExit("not every web process accepted connections within 90 s")
            connection = await http.connect("127.0.0.1", port, headers)
            held.append(connection)
            await connection.request("GET", f"/workspaces/{ids['workspace']}/messages?limit=1")
    finally:
        for connection in held:
            connection.close()
    await asyncio.sleep(0.2)  # their sockets closed before the pool opens


async def wait_delivered(clients: Clients, ids: dict, timeout: float = 300) -> None:
    """Until the workers have moved every accepted message on (nothing pending or in flight)."""
    path = f"/workspaces/{ids['workspace']}/messages?limit=1&status=accepted,processing,scheduled"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        resp = await clients.request(0, "GET", path)
        if resp.status_code == 200 and not json.loads(resp.content)["results"]:
            return
        await asyncio.sleep(0.5)
    raise SystemExit(f"messages still undelivered after {timeout:.0f} s")


async def drive(args, port: int, ids: dict, proc: subprocess.Popen) -> dict[str, list[Phase]]:
    paths = {
        "send": (f"/workspaces/{ids['workspace']}/channels/{ids['channel']}/messages", 202),
        "baseline": (f"/bench/baseline/{ids['workspace']}/channels/{ids['channel']}", 201),
        "floor": (f"/bench/floor/{ids['workspace']}/channels/{ids['channel']}", 201),
    }
    headers = {"Authorization": f"AccessKey {ids['key']}", "Content-Type": "application/json"}
    results: dict[str, list[Phase]] = {name: [] for name in PHASES}
    await wait_ready(port, headers, ids, proc)
    await wait_all_web_processes(port, headers, ids, proc.pid)
    clients = Clients(port, headers, args.clients)
    await clients.open()
    try:
        warm = argparse.Namespace(**{**vars(args), "requests": args.warmup})
        for name, (path, expected) in paths.items():
            warmed = await run_phase(clients, path, expected, warm, name)
            if warmed.errors:
                raise SystemExit(f"{name} fails during warm-up: {warmed.error_samples}")
        groups = server_groups(proc.pid)
        args.web_seen = len(groups["web"])
        # How the clients' keep-alive connections landed: an uneven split makes the
        # connections of the busier process wait longer (portal/balance.py).
        args.split = [established_connections(pgid, port) for pgid in groups["web"]]
        for _ in range(args.rounds):
            for name in PHASES:
                if not args.paused:
                    await wait_delivered(clients, ids)
                path, expected = paths[name]
                phase = await run_phase(clients, path, expected, args, name, groups)
                results[name].append(phase)
                print(
                    f"  {name:8s} {len(phase.latencies):6d} ok {phase.errors:3d} errors in {phase.elapsed:5.1f} s"
                    f" = {phase.rate:7.1f} req/s; CPU/request: web {cpu_ms(phase, 'web'):4.1f} ms,"
                    f" workers {cpu_ms(phase, 'workers'):4.1f}, clients {cpu_ms(phase, 'clients'):4.1f},"
                    f" services {cpu_ms(phase, 'services'):4.1f}{web_shares(phase)}"
                    f"  ({phase.load})",
                    flush=True,
                )
    finally:
        clients.close()
    return results


# --- report ---------------------------------------------------------------------------------


def cpu_ms(phase: Phase | list[Phase], part: str) -> float:
    phases = phase if isinstance(phase, list) else [phase]
    done = sum(len(p.latencies) + p.errors for p in phases)
    return sum(p.cpu.get(part, 0.0) for p in phases) / max(done, 1) * 1000


def web_shares(phase: Phase) -> str:
    """With several web processes, each one's share of the web CPU (an uneven split means
    the connections were not spread evenly)."""
    parts = [phase.cpu[k] for k in sorted(phase.cpu) if k.startswith("web-")]
    if len(parts) < 2 or not sum(parts):
        return ""
    return "; web split " + "/".join(f"{p / sum(parts) * 100:.0f}" for p in parts) + " %"


def summary(phases: list[Phase]) -> tuple[float, float, float, int, int]:
    latencies = [x for p in phases for x in p.latencies]
    elapsed = sum(p.elapsed for p in phases)
    errors = sum(p.errors for p in phases)
    rate = len(latencies) / elapsed if elapsed else 0.0
    return rate, percentile(latencies, 50) * 1000, percentile(latencies, 99) * 1000, errors, len(latencies)


def report(args, db: BenchDatabase, engine: str, results: dict[str, list[Phase]]) -> int:
    print()
    print(f"command:  {command_line()}")
    print(f"machine:  {machine()}")
    print(f"database: {engine}")
    broker = "redis" if os.environ.get("REDIS_URL") else "orm"
    length = f"{args.requests} requests" if args.requests else f"{args.seconds:g} s"
    print(
        f"server:   manage.py serve ({getattr(args, 'web_seen', '?')} daphne + qcluster, broker {broker});"
        f" {args.clients} clients, keep-alive"
        f" ({' + '.join(map(str, getattr(args, 'split', []))) or '?'} per web process);"
        f" {args.rounds} x {length} per endpoint;"
        f" channel {'paused (no delivery)' if args.paused else 'sandbox, delivering'}"
    )
    print(f"{'':31s} {'req/s':>8s} {'p50 ms':>8s} {'p99 ms':>8s} {'ok':>7s} {'errors':>6s}  CPU ms/request")
    figures = {}
    for name, label in (
        ("send", "POST .../messages (send)"),
        ("baseline", "DRF CreateAPIView (baseline)"),
        ("floor", "objects.create(), no serializer"),
    ):
        rate, p50, p99, errors, ok = summary(results[name])
        figures[name] = (rate, p99, errors)
        cpu = (
            f"web {cpu_ms(results[name], 'web'):.1f} + workers {cpu_ms(results[name], 'workers'):.1f}"
            f" + clients {cpu_ms(results[name], 'clients'):.1f}"
            f" + services {cpu_ms(results[name], 'services'):.1f}"
        )
        print(f"{label:31s} {rate:8.1f} {p50:8.1f} {p99:8.1f} {ok:7d} {errors:6d}  {cpu}")
    ratio = figures["send"][0] / figures["baseline"][0]
    # Per round, send against the baseline measured just before it: the machine's speed
    # drifts (this VM's moved by a third within a minute), and the spread shows how much.
    per_round = [s.rate / b.rate for s, b in zip(results["send"], results["baseline"], strict=True) if b.rate]
    print("ratio per round:                " + "  ".join(f"{r:.2f}" for r in per_round))
    errors = sum(f[2] for f in figures.values())
    send_p99 = figures["send"][1]
    print(f"ratio send/baseline throughput: {ratio:.2f}  (target >= {TARGET_RATIO}) {'OK' if ratio >= TARGET_RATIO else 'BELOW TARGET'}")
    print(f"ratio send/floor throughput:    {figures['send'][0] / figures['floor'][0]:.2f}  (for the record)")
    print(f"send p99: {send_p99:.1f} ms  (target <= {TARGET_P99_MS:g} ms) {'OK' if send_p99 <= TARGET_P99_MS else 'ABOVE TARGET'}")
    print(f"errors: {errors}  (target 0) {'OK' if errors == 0 else 'FAILED'}")
    for phases in results.values():
        for p in phases:
            for sample in p.error_samples:
                print(f"  {p.name} error: {sample}")
    print(f"{load_average()} at the end (the machine is shared; figures move with it)")
    return 0 if errors == 0 else 1


def main() -> int:
    args = parse_args()
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="bench.settings_bench",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        LOG_LEVEL=os.environ.get("LOG_LEVEL", "WARNING"),
        # Own queue and channel-layer prefix, so a shared Redis carries nobody else's work.
        Q_QUEUE_NAME=f"bench-send-{os.getpid()}",
        CHANNEL_LAYER_PREFIX=f"bench-send-{os.getpid()}",
    )
    if args.setup:
        setup(args.paused)
        return 0

    with BenchDatabase("bench_send") as db:
        env.update(db.env)
        engine = db.engine()
        print(f"setting up {engine} ...", flush=True)
        made = subprocess.run(
            [sys.executable, __file__, "--setup", *(["--paused"] if args.paused else [])],
            env=env, cwd=ROOT, capture_output=True, text=True,
        )
        if made.returncode:
            raise SystemExit(f"setup failed:\n{made.stderr[-3000:]}")
        ids = json.loads(made.stdout.strip().splitlines()[-1])

        port = free_port()
        log = tempfile.TemporaryFile()
        serve = [sys.executable, "manage.py", "serve", "--port", str(port)]
        if args.workers:
            serve += ["--workers", str(args.workers)]
        if args.web_processes:
            serve += ["--web-processes", str(args.web_processes)]
        proc = subprocess.Popen(serve, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        print(f"serve pid {proc.pid} on 127.0.0.1:{port}; {load_average()}", flush=True)
        try:
            results = asyncio.run(drive(args, port, ids, proc))
        except BaseException:
            log.seek(0)
            sys.stderr.write(f"--- serve output (tail) ---\n{log.read().decode(errors='replace')[-3000:]}\n")
            raise
        finally:
            stop_server(proc)
            log.seek(0)
            server_output = log.read().decode(errors="replace")
            log.close()
            if args.server_log:
                Path(args.server_log).write_text(server_output)
        code = report(args, db, engine, results)
        if code:
            print(f"--- serve output (tail) ---\n{server_output[-4000:]}")
        return code


if __name__ == "__main__":
    sys.exit(main())
