"""The one way a message's status changes.

Every change is a conditional UPDATE (only from a status that may move to the new one),
followed by an appended MessageEvent, in the same transaction. Listeners hear about it
on commit (messaging.signals.message_status_changed), never before.

Transitions only move forward (SPEC §2). A late or duplicate report (e.g. `sent` after
`delivered`) changes nothing and returns False. The dispatcher's retry path uses
`requeue()`, the only way back from `processing`, and only for messages it claimed.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone

from messaging import db
from messaging.models import Message, MessageEvent, Status
from messaging.signals import StatusChange, publish_status_changes

S = Status
# Which statuses each status may be reached from.
ALLOWED_FROM: dict[str, set[str]] = {
    S.ACCEPTED: set(),
    S.SCHEDULED: {S.ACCEPTED},
    S.PROCESSING: {S.ACCEPTED, S.SCHEDULED},
    S.SENT: {S.ACCEPTED, S.SCHEDULED, S.PROCESSING},
    S.DELIVERED: {S.ACCEPTED, S.SCHEDULED, S.PROCESSING, S.SENT},
    S.DELIVERY_FAILED: {S.PROCESSING, S.SENT},
    S.SENDING_FAILED: {S.ACCEPTED, S.SCHEDULED, S.PROCESSING},
    S.EXPIRED: {S.ACCEPTED, S.SCHEDULED, S.PROCESSING},
    S.SKIPPED: {S.ACCEPTED, S.SCHEDULED, S.PROCESSING},
    S.CANCELED: {S.ACCEPTED, S.SCHEDULED},
}


class InvalidTransition(Exception):
    def __init__(self, message: Message, status: str):
        self.message = message
        self.status = status
        super().__init__(f"message {message.id} cannot move from {message.status} to {status}")


@dataclass(frozen=True)
class Result:
    id: object
    changed: bool


def can_move(current: str, new: str) -> bool:
    return current in ALLOWED_FROM.get(new, set())


def transition(
    message: Message, status: str, reason: str = "", actor: str = "", at: datetime | None = None, **extra
) -> bool:
    """Move one message to `status`; False (and nothing written) if that would go back.

    `extra` are further fields to set in the same UPDATE (e.g. endpoint=None).
    On success the in-memory `message` is updated too.
    """
    if transition_many([message.id], status, reason=reason, actor=actor, at=at, **extra):
        _refresh(message, status, reason, at, extra)
        return True
    return False


def _refresh(message: Message, status: str, reason: str, at, extra) -> None:
    message.status = status
    message.reason = reason
    message.last_status_at = at or timezone.now()
    for key, value in extra.items():
        setattr(message, key, value)


def transition_many(
    ids: Iterable,
    status: str,
    reason: str = "",
    actor: str = "",
    at: datetime | None = None,
    via: Sequence[str] = (),
    increments: dict | None = None,
    locked_rows: list[tuple] | None = None,
    **extra,
) -> list:
    """Move many messages to one status in a few queries; returns the ids that moved.

    `via` are statuses passed through on the way (e.g. `sent` before `delivered` when a
    connector reports delivery at once): each gets its event and its change notification,
    in order, but the rows are updated once. `reason` belongs to the final status.
    `extra` are further fields set to plain values in the same UPDATE, `increments`
    (field → number) are added to columns in place (the dispatcher's attempt count).
    `locked_rows` are the messages' CHANGE_FIELDS, already selected FOR UPDATE in the
    caller's transaction (the dispatcher's claim): then they are not read again.

    The dispatcher calls this twice per batch, so its statements are written out once
    (messaging.db) rather than compiled by the ORM each time.
    """
    ids = list(ids)
    if not ids:
        return []
    path = [*via, status]
    for before, after in zip(path, path[1:], strict=False):
        if not can_move(before, after):
            raise ValueError(f"cannot pass from {before} to {after}")
    for name, value in extra.items():
        if hasattr(value, "resolve_expression"):
            raise TypeError(f"{name}: transition_many sets plain values; use increments= for counters")
    allowed = sorted(ALLOWED_FROM[path[0]])
    if not allowed:
        return []
    at = at or timezone.now()
    with transaction.atomic():
        if locked_rows is not None:
            movable = locked_rows
        else:
            movable = db.select_rows(Message, CHANGE_FIELDS, for_update=True, id__in=ids, status__in=allowed)
        if not movable:
            return []
        moved_ids = [row[0] for row in movable]
        changes = []
        with db.pipelined():  # PostgreSQL: the update and the events in one round trip
            db.update_rows(
                Message,
                {"status": status, "reason": reason[:500], "last_status_at": at, "updated_at": at, **extra},
                increments,
                id__in=moved_ids,
                status__in=allowed,
            )
            for step in path:
                step_reason = reason if step == status else ""
                insert_events(moved_ids, step, step_reason, actor, at)
                changes += [_change(row, step, step_reason, at) for row in movable]
        publish_status_changes(changes)
    return moved_ids


# What a StatusChange needs of each moved message.
CHANGE_FIELDS = ["id", "workspace", "channel", "service", "notify_url"]


def _change(row: tuple, status: str, reason: str, at: datetime) -> StatusChange:
    message_id, workspace_id, channel_id, service_id, notify_url = row
    return StatusChange(
        message_id, workspace_id, channel_id, status, reason, at, notify=bool(service_id or notify_url)
    )


def insert_events(ids: list, status: str, reason: str, actor: str, at: datetime) -> None:
    """Append one MessageEvent per id with one executemany (messaging.db.insert_rows): this
    is the dispatcher's hot path, and bulk_create's per-object work cost more than the
    database's."""
    reason, actor = reason[:500], actor[:100]
    db.insert_rows(
        MessageEvent, ["message", "status", "reason", "actor", "at"], [(mid, status, reason, actor, at) for mid in ids]
    )


def record_each(results: Iterable[tuple[Message, str, str]], actor: str = "") -> int:
    """Record per-message outcomes [(message, status, reason)], grouped into few queries."""
    groups: dict[tuple[str, str], list] = {}
    for message, status, reason in results:
        groups.setdefault((status, reason), []).append(message.id)
    moved = 0
    for (status, reason), ids in groups.items():
        moved += len(transition_many(ids, status, reason=reason, actor=actor))
    return moved


def requeue(
    ids: Iterable,
    reason: str,
    due_at: datetime | None = None,
    actor: str = "dispatcher",
    refund_attempt: bool = False,
) -> list:
    """Return claimed (`processing`) messages to `accepted` so another attempt can take them.

    `refund_attempt` gives back the attempt the claim counted: a deferral (quiet hours) or a
    connector's "wait" never tried to send, so it must not bring the message nearer to failing.
    """
    ids = list(ids)
    if not ids:
        return []
    now = timezone.now()
    with transaction.atomic():
        rows = db.select_rows(Message, CHANGE_FIELDS, for_update=True, id__in=ids, status=S.PROCESSING)
        moved_ids = [r[0] for r in rows]
        if not moved_ids:
            return []
        Message.objects.filter(id__in=moved_ids, status=S.PROCESSING).update(
            status=S.ACCEPTED,
            reason=reason[:500],
            claimed_at=None,
            claimed_by="",
            due_at=due_at or now,
            last_status_at=now,
            updated_at=now,
            **({"attempts": Greatest(F("attempts") - 1, 0)} if refund_attempt else {}),
        )
        insert_events(moved_ids, S.ACCEPTED, reason, actor, now)
        publish_status_changes([_change(row, S.ACCEPTED, reason, now) for row in rows])
    return moved_ids
