"""Dispatch: the database is the outbox (the worker side is built out in issue #4).

`request_dispatch()` is the seam the send path calls on commit after messages are
accepted: it must be cheap and coalesced (a burst of accepts must not create one queue
task per message).
"""


def request_dispatch() -> None:
    """Ask the workers to look at the outbox soon. Called on commit by the send path."""
    # Filled in by the delivery engine; accepted messages wait in the outbox until then.
    return None
