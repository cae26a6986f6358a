"""Webhook subscriptions (SPEC §4): events, Standard Webhooks signing, delivery, retries.

Flow:
- messaging.listeners connects `on_status_changed` / `on_received` to the on-commit
  signals. They build one event per change (`<platform>.outbound` for every status change
  of an outgoing message, `<platform>.inbound` for a received message) and queue one
  django-q2 task per (event, matching active subscription). Nothing is queued for data
  that could still roll back, and a workspace without subscriptions costs one query.
- `deliver()` makes one attempt: sign, POST through messaging.outbound (SSRF guard,
  timeouts), log a WebhookAttempt. On failure it records `next_attempt_at` on that
  attempt, following the Standard Webhooks ladder (RETRY_DELAYS).
- `retry_due()` (a django-q2 schedule, every minute) finds attempts whose
  `next_attempt_at` has come and queues `retry()` for each; `retry()` claims the attempt
  atomically, so a retry is made once even when the sweep and a worker overlap. Because
  the ladder lives in the database, retries survive restarts of every process.

The `webhook-id` of an event stays the same across its retries, so receivers can
deduplicate; each attempt is signed with a fresh `webhook-timestamp` (receivers reject
stale timestamps, and a retry 24 h later must still verify).
"""

import json
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django_q.tasks import async_task
from standardwebhooks import Webhook

from messaging import db
from messaging.models import Direction, Message, WebhookAttempt, WebhookSubscription, Workspace
from messaging.outbound import EXCERPT_CHARS, OutboundError, UnsafeURL, post_json
from messaging.schedules import django_q_migrated, ensure_every_minute
from messaging.services.versioned import VersionedCache, bump
from messaging.signals import StatusChange

log = logging.getLogger(__name__)

# Delay before attempt 2, 3, ... after a failed attempt (attempt 1 is immediate).
RETRY_DELAYS = [
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=14),
    timedelta(hours=20),
    timedelta(hours=24),
]
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
# A claimed retry whose worker died is picked up again after this long.
RETRY_LEASE = timedelta(minutes=10)
RETRY_BATCH = 500

DELIVER_TASK = "messaging.webhook_tasks.deliver_webhook"
RETRY_TASK = "messaging.webhook_tasks.retry_webhook"


# --- signing -------------------------------------------------------------------------------


def new_webhook_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


def encode(payload: dict) -> str:
    """The exact text that is signed and sent."""
    return json.dumps(payload, separators=(",", ":"), default=str)


def signed_headers(secret: str, webhook_id: str, body: str, at: datetime | None = None) -> dict[str, str]:
    """webhook-id / webhook-timestamp / webhook-signature for `body`, signed with `secret`."""
    at = at or timezone.now()
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(webhook_id, at, body),
    }


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


# --- events --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    workspace_id: object
    type: str
    payload: dict
    webhook_id: str


def event_matches(patterns: Iterable[str], event_type: str) -> bool:
    """Patterns are `<platform>.<direction>`, either part may be `*` (the subscriptions API
    stores e.g. `*.inbound`); a bare `*` matches every event."""
    platform, _, direction = event_type.partition(".")
    for pattern in patterns or []:
        if not isinstance(pattern, str):
            continue
        if pattern == "*":
            return True
        want_platform, _, want_direction = pattern.partition(".")
        if want_platform in ("*", platform) and want_direction in ("*", direction):
            return True
    return False


def _message_data(message: Message) -> dict:
    return {
        "id": str(message.id),
        "workspaceId": str(message.workspace_id),
        "channelId": str(message.channel_id) if message.channel_id else None,
        "platform": message.channel.platform if message.channel_id else None,
        "direction": message.direction,
        "reference": message.reference,
    }


def outbound_events(changes: list[StatusChange]) -> list[Event]:
    messages = (
        Message.objects.filter(id__in=[c.message_id for c in changes], direction=Direction.OUTGOING)
        .select_related("channel")
        .only("id", "workspace_id", "channel_id", "channel__platform", "direction", "reference", "receiver")
    )
    by_id = {m.id: m for m in messages}
    events = []
    for change in changes:
        message = by_id.get(change.message_id)
        if message is None or message.channel_id is None:
            continue
        event_type = f"{message.channel.platform}.outbound"
        data = {
            **_message_data(message),
            "status": str(change.status),
            "reason": change.reason or "",
            "receiver": message.receiver or {},
            "statusAt": _iso(change.at),
        }
        payload = {"type": event_type, "timestamp": _iso(change.at), "data": data}
        events.append(Event(message.workspace_id, event_type, payload, new_webhook_id()))
    return events


def inbound_events(messages: Iterable[Message]) -> list[Event]:
    events = []
    for message in messages:
        if message.channel_id is None:
            continue
        event_type = f"{message.channel.platform}.inbound"
        data = {
            **_message_data(message),
            "status": message.status,
            "sender": message.sender or {},
            "body": message.body or {},
            "conversationId": str(message.conversation_id) if message.conversation_id else None,
            "receivedAt": _iso(message.created_at),
        }
        payload = {"type": event_type, "timestamp": _iso(timezone.now()), "data": data}
        events.append(Event(message.workspace_id, event_type, payload, new_webhook_id()))
    return events


@dataclass(frozen=True)
class ActiveSubscription:
    id: object
    events: list


def active_subscriptions(workspace_ids) -> dict[object, list[ActiveSubscription]]:
    """Per workspace, the active subscriptions' ids and event filters (runs on every commit
    of status changes, so it reads three columns, not model instances)."""
    by_workspace: dict[object, list[ActiveSubscription]] = defaultdict(list)
    if not workspace_ids:
        return by_workspace
    rows = db.select_rows(
        WebhookSubscription, ["id", "workspace_id", "events"], workspace_id__in=workspace_ids, active=True
    )
    for sub_id, workspace_id, events in rows:
        by_workspace[workspace_id].append(ActiveSubscription(sub_id, events))
    return by_workspace


# Per workspace: its active subscriptions, kept while its webhooks_version is unchanged.
_known_subscriptions: VersionedCache[list[ActiveSubscription]] = VersionedCache()


def subscriptions_of(workspace: Workspace) -> dict[object, list[ActiveSubscription]]:
    """active_subscriptions() of one workspace, as fresh as the `workspace` row the caller
    loaded (messaging.services.versioned). The send path asks on every request, and reading
    them was ~5% of a send's CPU (py-spy, stop 13); they change rarely."""
    found = _known_subscriptions.get(
        workspace.id,
        workspace.webhooks_version,
        lambda: active_subscriptions({workspace.id}).get(workspace.id, []),
    )
    return {workspace.id: found} if found else {}


def enqueue(events: list[Event], subscriptions: dict[object, list[ActiveSubscription]]) -> int:
    """Queue one delivery task per (event, matching subscription); returns how many."""
    queued = 0
    for event in events:
        for sub in subscriptions.get(event.workspace_id, []):
            if event_matches(sub.events, event.type):
                async_task(DELIVER_TASK, str(sub.id), event.type, event.payload, event.webhook_id)
                queued += 1
    return queued


# --- listeners (connected in messaging.listeners) -----------------------------------------


def on_status_changed(changes: list[StatusChange], webhook_subscriptions=None, **kwargs) -> int:
    """Queue deliveries of the changes' events. `webhook_subscriptions`: active_subscriptions()
    of the changes' workspaces, if the writer has them already (the send path, from
    subscriptions_of())."""
    subscriptions = webhook_subscriptions
    if subscriptions is None:
        subscriptions = active_subscriptions({c.workspace_id for c in changes})
    if not subscriptions:
        return 0
    relevant = [c for c in changes if c.workspace_id in subscriptions]
    return enqueue(outbound_events(relevant), subscriptions)


def on_received(message_ids: list, **kwargs) -> int:
    messages = list(
        Message.objects.filter(id__in=message_ids, direction=Direction.INCOMING).select_related("channel")
    )
    subscriptions = active_subscriptions({m.workspace_id for m in messages})
    if not subscriptions:
        return 0
    return enqueue(inbound_events(m for m in messages if m.workspace_id in subscriptions), subscriptions)


# --- delivery ------------------------------------------------------------------------------


def deliver(
    subscription_id, event_type: str, payload: dict, webhook_id: str, attempt: int = 1
) -> WebhookAttempt | None:
    """Make one attempt and log it; None when the subscription is gone or disabled."""
    sub = WebhookSubscription.objects.filter(id=subscription_id).first()
    if sub is None or not sub.active:
        return None
    at = timezone.now()
    body = encode(payload)
    row = WebhookAttempt(
        subscription=sub,
        workspace_id=sub.workspace_id,
        url=sub.url,
        event_type=event_type,
        webhook_id=webhook_id,
        payload=payload,
        attempt=attempt,
        at=at,
    )
    post_attempt(row, body, signed_headers(sub.signing_key, webhook_id, body, at))
    if row.succeeded:
        pass
    elif row.status_code == 410:
        _disable(sub, at)
    else:
        plan_retry(row)
    row.save()
    return row


# The attempt log, the ladder, the retry claim and the sweep below also serve the seed-002
# notify-URL deliveries (messaging.notify): same WebhookAttempt rows, other targets.


def post_attempt(row: WebhookAttempt, body: str, headers: dict[str, str]) -> None:
    """POST `body` to row.url and fill in the attempt's outcome fields."""
    started = time.monotonic()
    try:
        response = post_json(row.url, body, headers)
    except UnsafeURL as exc:
        # No request was made: the guard refused the address the URL resolves to now.
        row.error = f"Refused by the SSRF guard, no request made: {exc}"[:500]
        return
    except OutboundError as exc:
        row.error = str(exc)[:500]
        row.duration_ms = int((time.monotonic() - started) * 1000)
        return
    row.status_code = response.status_code
    row.duration_ms = response.duration_ms
    row.response_excerpt = response.text_excerpt[:EXCERPT_CHARS]
    row.succeeded = response.ok
    if not response.ok:
        row.error = f"HTTP {response.status_code} {response.reason_phrase}".strip()[:500]


def plan_retry(row: WebhookAttempt) -> None:
    """After a failed attempt: the next one on the ladder, or give up after the last."""
    if row.attempt < MAX_ATTEMPTS:
        row.next_attempt_at = row.at + RETRY_DELAYS[row.attempt - 1]
    else:
        row.error = f"{row.error}; gave up after {MAX_ATTEMPTS} attempts"[:500]


def _disable(sub: WebhookSubscription, at: datetime) -> None:
    reason = f"The receiver answered 410 Gone at {_iso(at)}; delivery stopped."
    with transaction.atomic():
        if WebhookSubscription.objects.filter(id=sub.id, active=True).update(active=False, disabled_reason=reason):
            bump(sub.workspace_id, "webhooks_version")  # a queryset update sends no post_save
    log.info("webhook subscription %s disabled: %s", sub.id, reason)


def retry_due(now: datetime | None = None, limit: int = RETRY_BATCH) -> int:
    """Queue a retry for every attempt whose next_attempt_at has come; returns how many.

    Queuing twice is harmless (retry() claims), so an overlapping sweep needs no lock.
    """
    return queue_due(WebhookAttempt.objects.filter(subscription__active=True), RETRY_TASK, now, limit)


def queue_due(attempts: QuerySet, task: str, now: datetime | None, limit: int) -> int:
    """Queue `task` for each of `attempts` whose next_attempt_at has come; returns how many."""
    due = list(
        attempts.filter(next_attempt_at__lte=now or timezone.now())
        .order_by("next_attempt_at")
        .values_list("id", flat=True)[:limit]
    )
    for attempt_id in due:
        async_task(task, attempt_id)
    return len(due)


def retry(attempt_id: int, now: datetime | None = None) -> WebhookAttempt | None:
    """Make the next attempt after failed attempt `attempt_id`, once."""
    return retry_once(
        WebhookAttempt.objects,
        attempt_id,
        now,
        lambda p: deliver(p.subscription_id, p.event_type, p.payload, p.webhook_id, p.attempt + 1),
    )


def retry_once(
    attempts: QuerySet,
    attempt_id: int,
    now: datetime | None,
    next_attempt: Callable[[WebhookAttempt], WebhookAttempt | None],
) -> WebhookAttempt | None:
    """Claim failed attempt `attempt_id` of `attempts` and make `next_attempt(previous)`;
    None when it is not pending or another worker claimed it.

    The claim moves next_attempt_at forward by a lease instead of clearing it: if this
    worker dies mid-request, the sweep finds the attempt again after the lease.
    """
    now = now or timezone.now()
    previous = attempts.filter(id=attempt_id, next_attempt_at__isnull=False).first()
    if previous is None:
        return None
    claimed = attempts.filter(id=attempt_id, next_attempt_at=previous.next_attempt_at).update(
        next_attempt_at=max(now, previous.next_attempt_at) + RETRY_LEASE
    )
    if claimed != 1:
        return None  # another worker took it
    next_row = next_attempt(previous)
    attempts.filter(id=attempt_id).update(next_attempt_at=None)
    return next_row


# --- the retry sweep's schedule ---------------------------------------------------------------

SCHEDULE_NAME = "switchboard: retry due webhook deliveries"
SWEEP_TASK = "messaging.webhook_tasks.retry_due_webhooks"


def ensure_schedule() -> bool:
    """Create the every-minute retry sweep if missing (idempotent); True if created.

    A retry therefore goes out within about a minute of its next_attempt_at (the 5 s step
    included): django-q2 schedules have a one-minute granularity.
    """
    return ensure_every_minute(SCHEDULE_NAME, SWEEP_TASK)


def on_post_migrate(sender=None, using: str = "default", **kwargs) -> None:
    """post_migrate handler: `migrate` (and so `make run`) leaves the schedule in place."""
    if django_q_migrated(using):
        ensure_schedule()
