"""End to end: a real daphne process, two `simulate_device` processes, 200 messages, one
phone killed mid-way — every message ends `sent`, none twice.

How frames cross processes: the test process plays the django-q2 worker (it accepts
messages and runs the dispatcher). With the embedded default (in-memory channel layer)
it cannot push to daphne's sockets, so its SendMessage requests wait in the database and
daphne's pump (messaging.engine.pump) delivers them. With REDIS_URL set (the PostgreSQL +
Redis run), daphne and this process share the Redis layer and frames are pushed at once.
Both paths are the product's; which one runs depends on the environment, like in
production.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.db.models import Count

from messaging.engine import routing
from messaging.models import EngineRequest, Message, MessageEvent, MessagingEndpoint, Status
from messaging.services import dispatch
from messaging.services.send import accept_batch
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(settings.BASE_DIR)
PYTHON = sys.executable
TOTAL = 200
CHUNK = 25


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_env() -> dict:
    """The children use this test's database (and Redis layer, if configured)."""
    env = {k: v for k, v in os.environ.items() if k not in ("Q_SYNC", "DATABASE_URL", "SQLITE_PATH")}
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        env["SQLITE_PATH"] = str(db["NAME"])
    else:
        auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
        env["DATABASE_URL"] = f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env["DJANGO_SETTINGS_MODULE"] = "portal.settings"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def wait_for(check, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def q_sync():
    """Not inline here: this test drains the outbox itself, as a worker would."""


@pytest.fixture
def processes(tmp_path):
    """Start children; every one is stopped by PID at the end, whatever happens."""
    started: list[subprocess.Popen] = []

    def start(name: str, argv: list[str]) -> subprocess.Popen:
        log = open(tmp_path / f"{name}.log", "w")  # noqa: SIM115 - closed with the process below
        proc = subprocess.Popen(argv, cwd=ROOT, env=child_env(), stdout=log, stderr=subprocess.STDOUT)
        proc.log_path = tmp_path / f"{name}.log"
        proc.log_file = log
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in started:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        proc.log_file.close()


def test_two_phones_send_200_messages_and_one_dies_mid_way(workspace, processes, settings):
    # This test is the worker: it calls dispatch_due() after each batch and expects it back
    # while phone A still holds sends. Nobody here relies on having seen the dispatch flag,
    # so no trust window (a dispatcher out of work would keep claiming for it, ~1 s).
    settings.DISPATCH_FLAG_TRUST_MS = 0
    channel = factories.create_channel(workspace, "sms", "engine", name="Phones")
    phone_a, token_a = factories.create_endpoint(channel, name="A")
    phone_b, token_b = factories.create_endpoint(channel, name="B")
    port = free_port()
    daphne = processes("daphne", [PYTHON, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "portal.asgi:application"])
    wait_for(lambda: port_open(port) or daphne.poll() is not None, 30, "daphne to listen")
    assert daphne.poll() is None, daphne.log_path.read_text()

    url = f"ws://127.0.0.1:{port}/ws/engine/"
    sim = [PYTHON, "manage.py", "simulate_device", "--url", url, "--latency-ms", "300", "--token"]
    device_a = processes("device-a", [*sim, token_a])
    device_b = processes("device-b", [*sim, token_b])
    wait_for(
        lambda: MessagingEndpoint.objects.filter(channel=channel, connected=True, send_permission="ON").count() == 2,
        30,
        "both phones online",
    )

    # Accept messages as the API does (batches of 25), with this process as the worker
    # draining the outbox (the dispatch tasks daphne queues have no cluster to run them here).
    messages = []
    for first in range(0, TOTAL, CHUNK):
        requests = [
            {
                "receiver": {"contacts": [{"identifierKey": "phonenumber", "identifierValue": f"+1415555{i:04d}"}]},
                "body": {"type": "text", "text": {"text": f"message {i}"}},
            }
            for i in range(first, first + CHUNK)
        ]
        messages += accept_batch(workspace, channel, requests, actor="e2e")
        dispatch.dispatch_due()
        if first + CHUNK == TOTAL // 4:
            # Let A answer some first, so its death is mid-way and not before its first send.
            wait_for(
                lambda: EngineRequest.objects.filter(endpoint=phone_a, outcome=routing.SUCCEEDED).exists(),
                30,
                "A answered some",
            )
        if first + CHUNK == TOTAL // 2:
            # Phone A dies while it holds unanswered sends (300 ms latency).
            wait_for(lambda: EngineRequest.objects.filter(endpoint=phone_a, answered_at=None).exists(), 10, "A busy")
            os.kill(device_a.pid, signal.SIGKILL)
            device_a.wait(timeout=10)

    def all_sent() -> bool:
        dispatch.dispatch_due()  # requeued messages (A's) go to B
        routing.expire_device_requests()
        return not Message.objects.filter(pk__in=[m.pk for m in messages]).exclude(status=Status.SENT).exists()

    wait_for(all_sent, 90, "every message sent", interval=0.3)

    ids = [m.pk for m in messages]
    # Exactly one success per message, and one `sent` event: nothing was sent twice.
    successes = Counter(
        EngineRequest.objects.filter(message_id__in=ids, outcome=routing.SUCCEEDED).values_list("message_id", flat=True)
    )
    assert len(successes) == TOTAL and set(successes.values()) == {1}
    sent_events = MessageEvent.objects.filter(message_id__in=ids, status=Status.SENT).values("message_id")
    assert set(sent_events.annotate(n=Count("id")).values_list("n", flat=True)) == {1}
    # A really died mid-way: it sent some, and B took over what it left unanswered.
    rerouted = EngineRequest.objects.filter(endpoint=phone_a, outcome=routing.DISCONNECTED).count()
    assert rerouted > 0
    assert EngineRequest.objects.filter(endpoint=phone_a, outcome=routing.SUCCEEDED).count() > 0
    assert Message.objects.filter(pk__in=ids, endpoint=phone_b).count() > TOTAL // 2
    phone_a.refresh_from_db()
    assert not phone_a.connected
    # B answered every SendMessage it received exactly once (its own frame log).
    log_b = device_b.log_path.read_text()
    assert log_b.count("<- SendMessage ") == log_b.count("-> SendMessageSucceeded ")

    device_b.send_signal(signal.SIGTERM)
    assert device_b.wait(timeout=10) == 0  # a clean stop
    assert "stopped:" in device_b.log_path.read_text()
