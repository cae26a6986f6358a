"""django-q2 task functions of the delivery engine.

Tasks are stored by dotted path (in queued tasks and Schedule rows), so these names are
stable: rename one and stored work breaks. Each takes ids or nothing and returns a count
or a small dict of counts (shown in the admin's task results).
"""

from messaging.services import dispatch


def dispatch_due() -> int:
    """Drain the outbox: claim due messages in batches and send them. Queued (coalesced) by
    messaging.services.dispatch.request_dispatch()."""
    return dispatch.dispatch_due()


def release_timer() -> int:
    """Wait for the armed moment the next scheduled message falls due, then dispatch."""
    return dispatch.release_timer()


def sweep() -> dict:
    """Every minute: requeue or fail claims of dead workers, expire overdue waits, wake dispatch."""
    return dispatch.sweep()


def release_due() -> bool:
    """Every minute, half a minute after the sweep: queue a dispatch if scheduled work is due."""
    return dispatch.release_due()


def dispatch_one(message_id: str) -> int:
    """Send one message (the one-task-per-message baseline of bench/dispatch.py)."""
    return dispatch.dispatch_ids([message_id])
