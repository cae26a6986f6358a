"""Dispatch throughput: batched outbox draining vs one django-q2 task per message.

    .venv/bin/python bench/dispatch.py [--count 20000] [--baseline-count 5000]
    DATABASE_URL=postgres://... REDIS_URL=redis://... .venv/bin/python bench/dispatch.py

1. `count` accepted messages on a sandbox channel (latency 0) are inserted in bulk; one
   `request_dispatch()` (what the send path does on commit) and one running qcluster
   deliver them; delivered/s is measured from the request to the last final status.
2. Baseline: `baseline-count` messages, one `messaging.tasks.dispatch_one` task queued per
   message (what a naive send path would do), same cluster, same connector, same rules.
Prints both rates and their ratio. Targets: batched ≥ 1,000 msg/s and ≥ 4× the baseline.
"""

import argparse
import time

from _cluster import (
    backend,
    group_cpu_seconds,
    load_average,
    make_channel,
    make_messages,
    setup_django,
    start_cluster,
    stop_cluster,
    wait_final,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20000)
    parser.add_argument("--baseline-count", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    setup_django()

    from django.conf import settings
    from django_q.tasks import async_task

    from messaging.models import Message, Status
    from messaging.services.dispatch import request_dispatch

    print(f"database: {backend()}, cluster workers: {args.workers}, batch size: {settings.DISPATCH_BATCH_SIZE}")
    cluster = start_cluster(args.workers)
    try:
        channel = make_channel("batched")
        make_messages(channel, args.count)
        cpu, started = group_cpu_seconds(cluster.pid), time.monotonic()
        request_dispatch()
        batched = args.count / (wait_final(channel, args.count, timeout=900) - started)
        cpu = group_cpu_seconds(cluster.pid) - cpu
        delivered = Message.objects.filter(channel=channel, status=Status.DELIVERED).count()
        print(f"batched:  {args.count} messages, {delivered} delivered, {batched:,.0f} msg/s "
              f"(cluster CPU {1000 * cpu / args.count:.2f} ms/msg = {args.count / max(cpu, 1e-9):,.0f} msg per CPU-second)")

        channel = make_channel("baseline")
        rows = make_messages(channel, args.baseline_count)
        cpu, started = group_cpu_seconds(cluster.pid), time.monotonic()
        for message in rows:
            async_task("messaging.tasks.dispatch_one", str(message.id))
        baseline = args.baseline_count / (wait_final(channel, args.baseline_count, timeout=1800) - started)
        cpu = group_cpu_seconds(cluster.pid) - cpu
        print(f"baseline: {args.baseline_count} messages, one task each, {baseline:,.1f} msg/s "
              f"(cluster CPU {1000 * cpu / args.baseline_count:.2f} ms/msg)")
    finally:
        stop_cluster(cluster)

    ratio = batched / baseline
    print(f"load average at the end: {load_average()} (2 cores: figures above 2 mean contention)")
    print(f"ratio: {ratio:.1f}x  (targets: >= 1,000 msg/s: {'met' if batched >= 1000 else 'MISSED'}; "
          f">= 4x baseline: {'met' if ratio >= 4 else 'MISSED'})")


if __name__ == "__main__":
    main()
