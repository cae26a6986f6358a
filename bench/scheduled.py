"""Scheduled-message punctuality: 10,000 messages due at one moment ~20 s ahead.

    .venv/bin/python bench/scheduled.py [--count 10000] [--ahead 20]
    DATABASE_URL=postgres://... REDIS_URL=redis://... .venv/bin/python bench/scheduled.py

With a qcluster running, the messages are stored `scheduled` for one moment, and the send
path's `request_dispatch()` is called once. No Schedule row per message: the dispatcher
sees the next due time and arms its timer task, which wakes at that moment. Prints the
lateness (event time − scheduledFor) of the claim (`processing`) and of `sent`: p50, p99, max.
"""

import argparse
from datetime import timedelta

from _cluster import (
    backend,
    load_average,
    make_channel,
    make_messages,
    setup_django,
    start_cluster,
    stop_cluster,
    wait_final,
)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10000)
    parser.add_argument("--ahead", type=float, default=20.0, help="seconds until the messages fall due")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    setup_django()

    from django.utils import timezone

    from messaging.models import MessageEvent, Status
    from messaging.services.dispatch import request_dispatch

    print(f"database: {backend()}, cluster workers: {args.workers}")
    cluster = start_cluster(args.workers)
    try:
        channel = make_channel("scheduled")
        due = timezone.now() + timedelta(seconds=args.ahead)
        make_messages(channel, args.count, status=Status.SCHEDULED, scheduled_for=due, due_at=due)
        request_dispatch()  # what the send path does on commit
        wait_final(channel, args.count, timeout=args.ahead + 300)
    finally:
        stop_cluster(cluster)

    for status in (Status.PROCESSING, Status.SENT):
        late = [
            (at - scheduled_for).total_seconds()
            for at, scheduled_for in MessageEvent.objects.filter(message__channel=channel, status=status).values_list(
                "at", "message__scheduled_for"
            )
        ]
        early = sum(1 for x in late if x < 0)
        print(
            f"{status:<10} {len(late)} events: lateness first {min(late):.2f} s, p50 {percentile(late, 50):.2f} s, "
            f"p99 {percentile(late, 99):.2f} s, max {max(late):.2f} s, early: {early}"
        )
    print(f"load average at the end: {load_average()} (2 cores: figures above 2 mean contention)")


if __name__ == "__main__":
    main()
