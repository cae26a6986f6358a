"""Per-process copies of rows that rarely change, checked against a version counter.

A workspace row carries counters (`webhooks_version`, `channels_version`) that every
change of its webhook subscriptions or channels bumps in the changing transaction. The
send path loads the workspace row on every request anyway (with the access key), so it
can tell from it whether what this process read earlier is still current, and skip the
query when it is: a change is seen by the very next request that loads the workspace
afresh. A caller holding an old workspace row (a long-lived websocket consumer) sees
values at most `max_age` seconds old.

Why the order is safe: a change bumps the counter in (or after) the transaction that
makes it. A reader that sees the new counter therefore reads the new rows; a reader that
still saw the old counter may store newer rows under it (read again once the counter
moves), never older rows under the new one.
"""

import time
from collections.abc import Callable
from typing import Generic, TypeVar

from django.db.models import F

from messaging.models import Workspace

T = TypeVar("T")


class VersionedCache(Generic[T]):
    def __init__(self, max_age: float = 5.0, max_entries: int = 10_000):
        self.max_age = max_age
        self.max_entries = max_entries
        self._entries: dict[object, tuple[int, float, T]] = {}

    def get(self, key, version: int, load: Callable[[], T]) -> T:
        """The value kept for `key` if it was read with `version` less than max_age ago;
        otherwise `load()`, kept for the next caller."""
        now = time.monotonic()
        known = self._entries.get(key)
        if known is None or known[0] != version or now - known[1] > self.max_age:
            value = load()
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            known = self._entries[key] = (version, now, value)
        return known[2]

    def clear(self) -> None:
        self._entries.clear()


def bump(workspace_id, counter: str) -> None:
    """Move one of the workspace's version counters on: call it in the transaction that
    changes what the counter guards (or right after it commits)."""
    Workspace.objects.filter(pk=workspace_id).update(**{counter: F(counter) + 1})


def bump_on_change(model, counter: str) -> None:
    """Connect post_save and post_delete of `model` (which has a `workspace` foreign key)
    so every saved or deleted row bumps its workspace's `counter`."""
    from django.db.models.signals import post_delete, post_save

    def changed(sender, instance, **kwargs) -> None:
        bump(instance.workspace_id, counter)

    uid = f"versioned.{model._meta.label_lower}.{counter}"
    post_save.connect(changed, sender=model, weak=False, dispatch_uid=f"{uid}.saved")
    post_delete.connect(changed, sender=model, weak=False, dispatch_uid=f"{uid}.deleted")
