"""Web-like writers and a worker-like writer at the same time must not trip over each other.

On SQLite (the default database) this is what the settings promise: WAL, IMMEDIATE
transactions and a busy timeout turn concurrent writers into a queue instead of
"database is locked" errors. The same test runs on PostgreSQL, where it exercises the
race-safe creation of contacts and tags shared by concurrent sends.
"""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import close_old_connections, connection

from messaging.models import Contact, Message, MessageEvent, Status, Tag
from messaging.services import dispatch, send
from messaging.services import status as st
from tests import factories

SENDS = 120
WRITERS = 4
PHONES = [f"+1201555{n:04d}" for n in range(30)]  # shared by several sends: contact races


def one_send(workspace, channel, index: int) -> str:
    try:
        data = {
            "receiver": {"contacts": [{"identifierKey": "phonenumber", "identifierValue": PHONES[index % len(PHONES)]}]},
            "body": {"type": "text", "text": {"text": f"message {index}"}},
            "tags": ["load", f"group-{index % 3}"],
            "reference": f"ref-{index}",
        }
        return str(send.accept_message(workspace, channel, data, actor="web").id)
    finally:
        connection.close()  # each thread has its own connection; do not leak it


def worker(stop: threading.Event, moved: list, errors: list) -> None:
    """Claim accepted messages and record them sent, like the dispatcher, until told to stop
    and nothing is left."""
    try:
        while True:
            stopping = stop.is_set()
            ids = list(Message.objects.filter(status=Status.ACCEPTED).values_list("id", flat=True)[:25])
            if ids:
                claimed = st.transition_many(ids, Status.PROCESSING, actor="worker")
                moved.extend(st.transition_many(claimed, Status.SENT, actor="worker"))
            elif stopping:
                return
            else:
                time.sleep(0.01)  # idle: let the writers in rather than spin
    except Exception as exc:  # reported by the test, never swallowed
        errors.append(exc)
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True)
def test_web_and_worker_writers_run_together_without_lock_errors(monkeypatch):
    workspace = factories.create_workspace("Concurrency")
    channel = factories.create_channel(workspace, "sms", "sandbox")
    dispatches = []
    monkeypatch.setattr(dispatch, "request_dispatch", lambda: dispatches.append(1))
    close_old_connections()

    stop, moved, worker_errors = threading.Event(), [], []
    worker_thread = threading.Thread(target=worker, args=(stop, moved, worker_errors))
    worker_thread.start()
    try:
        with ThreadPoolExecutor(max_workers=WRITERS) as pool:
            futures = [pool.submit(one_send, workspace, channel, i) for i in range(SENDS)]
            # .result() re-raises any error of a writer, e.g. OperationalError "database is locked".
            ids = {future.result() for future in futures}
    finally:
        stop.set()
        worker_thread.join(timeout=120)
    assert not worker_thread.is_alive()
    assert worker_errors == []

    assert len(ids) == SENDS
    assert Message.objects.filter(workspace=workspace).count() == SENDS
    assert set(Message.objects.values_list("reference", flat=True)) == {f"ref-{i}" for i in range(SENDS)}
    assert Contact.objects.filter(workspace=workspace).count() == len(PHONES)
    assert sorted(Tag.objects.filter(workspace=workspace).values_list("name", flat=True)) == [
        "group-0",
        "group-1",
        "group-2",
        "load",
    ]
    assert Message.tags.through.objects.count() == 2 * SENDS
    # The worker saw every message, each exactly once, and its history is complete.
    assert sorted(map(str, moved)) == sorted(ids)
    assert Message.objects.filter(status=Status.SENT).count() == SENDS
    assert MessageEvent.objects.filter(status=Status.ACCEPTED).count() == SENDS
    assert MessageEvent.objects.filter(status=Status.SENT).count() == SENDS
    assert len(dispatches) == SENDS  # each send asked for a dispatch once committed
