"""Concurrent claimers get disjoint sets.

On PostgreSQL (the CI run with DATABASE_URL) the two claimers really run side by side and
SKIP LOCKED keeps them apart; on SQLite the same test runs and the IMMEDIATE transactions
serialise them — either way no message may be claimed twice.
"""

import threading

from django.db import connection

from messaging.models import Message, MessageEvent, Status
from messaging.services import dispatch
from tests import factories
from tests.delivery.conftest import bulk_messages


def claim_all(worker: str, barrier: threading.Barrier, out: dict, errors: list, last_round: dict) -> None:
    """Claim batches in rounds: both workers claim once per round, side by side, so each
    takes part even where the database serialises them (SQLite); stop after a round in
    which neither found anything."""
    try:
        got = []
        while True:
            barrier.wait(10)
            ids = dispatch.claim_batch(limit=25, worker=worker)
            got += ids
            last_round[worker] = len(ids)
            barrier.wait(10)
            if not any(last_round.values()):
                break
        out[worker] = got
    except Exception as exc:  # surfaced by the test, not lost in the thread
        errors.append(exc)
        barrier.abort()
    finally:
        connection.close()


def test_two_workers_claim_disjoint_sets(transactional_db):
    channel = factories.create_channel(factories.create_workspace("Claims"), "sms", "sandbox")
    bulk_messages(channel, 600)
    barrier, out, errors, last_round = threading.Barrier(2), {}, [], {}
    threads = [
        threading.Thread(target=claim_all, args=(w, barrier, out, errors, last_round)) for w in ("w1", "w2")
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    assert errors == []
    a, b = set(out["w1"]), set(out["w2"])
    assert not a & b
    assert len(a) + len(b) == 600
    assert a and b  # both took part
    owners = dict(Message.objects.values_list("id", "claimed_by"))
    assert all(owners[i] == "w1" for i in a) and all(owners[i] == "w2" for i in b)
    assert Message.objects.filter(status=Status.PROCESSING, attempts=1).count() == 600
    assert MessageEvent.objects.filter(status=Status.PROCESSING).count() == 600
