"""Seed-002 delivery notifications to notify URLs (SPEC §3.2, §4).

Every change of a message's 002 delivery status (render.DELIVERY_STATUS: Queued →
Submitted → Delivered, or a failure word) is POSTed as the seed's
`{"deliveryInfoNotification": {...}}` to the message's notify URL (the request's
`notifyurl`), or else to its service's current notify URL. Changes inside "Queued"
(accepted → processing, a retry's requeue) are not news to the client and are not sent.

- `on_status_changed` (connected in messaging.listeners, so on commit only) reads the
  changed messages that have a notify target in one query and queues one django-q2 task
  per notification.
- `deliver()` makes one attempt through messaging.outbound (SSRF guard checked again on the
  resolved address at send time, timeouts, no redirects) and logs it as a WebhookAttempt
  with subscription=None; a failure records `next_attempt_at` on the ladder of webhook
  subscriptions (messaging.services.webhooks.RETRY_DELAYS).
- `retry_due()` (a django-q2 schedule, every minute) queues `retry()` for attempts that
  are due; `retry()` claims the attempt atomically so each retry is made once.

Notifications of one message may arrive out of order when workers run in parallel; each
carries its `timeStamp`. The `webhook-id` header stays the same across retries of one
notification, so a receiver can drop duplicates.
"""

import logging
import time
from datetime import datetime

from django.db.models import Q
from django.utils import timezone
from django_q.tasks import async_task

from messaging.dialects.multichannel import render
from messaging.models import Direction, Message, WebhookAttempt
from messaging.outbound import EXCERPT_CHARS, OutboundError, UnsafeURL, post_json
from messaging.services import webhooks
from messaging.signals import StatusChange

log = logging.getLogger(__name__)

EVENT_TYPE = "deliveryInfoNotification"
DELIVER_TASK = "messaging.notify.deliver_notification"
RETRY_TASK = "messaging.notify.retry_notification"
SWEEP_TASK = "messaging.notify.retry_due_notifications"
SCHEDULE_NAME = "switchboard: retry due notify-URL deliveries"
RETRY_BATCH = 500


# --- listener ----------------------------------------------------------------------------------


def on_status_changed(changes: list[StatusChange], **kwargs) -> int:
    """Queue one notification per 002-visible status change; returns how many."""
    visible = [c for c in changes if render.DELIVERY_STATUS.get(c.status, ("",))[0] not in ("", render.QUEUED_WORD)]
    if not visible:
        return 0
    messages = {
        m.id: m
        for m in Message.objects.filter(id__in=[c.message_id for c in visible], direction=Direction.OUTGOING)
        .filter(Q(notify_url__gt="") | Q(service__notify_url__gt=""))
        .select_related("channel", "service")
    }
    queued = 0
    for change in visible:
        message = messages.get(change.message_id)
        if message is None:
            continue
        url = message.notify_url or (message.service.notify_url if message.service_id else "")
        payload = render.notification(message, change.status, change.reason, change.at)
        async_task(DELIVER_TASK, str(message.workspace_id), url, payload, webhooks.new_webhook_id())
        queued += 1
    return queued


# --- delivery ----------------------------------------------------------------------------------


def deliver(workspace_id, url: str, payload: dict, webhook_id: str, attempt: int = 1) -> WebhookAttempt:
    """One attempt, logged; a failure schedules the next one while attempts remain."""
    at = timezone.now()
    row = WebhookAttempt(
        subscription=None,
        workspace_id=workspace_id,
        url=url,
        event_type=EVENT_TYPE,
        webhook_id=webhook_id,
        payload=payload,
        attempt=attempt,
        at=at,
    )
    _send(row, webhooks.encode(payload))
    if not row.succeeded:
        if row.status_code == 410:
            row.error = f"{row.error}; the receiver answered 410 Gone, not retried"[:500]
        elif attempt < webhooks.MAX_ATTEMPTS:
            row.next_attempt_at = at + webhooks.RETRY_DELAYS[attempt - 1]
        else:
            row.error = f"{row.error}; gave up after {webhooks.MAX_ATTEMPTS} attempts"[:500]
    row.save()
    return row


def _send(row: WebhookAttempt, body: str) -> None:
    started = time.monotonic()
    try:
        response = post_json(row.url, body, {"webhook-id": row.webhook_id})
    except UnsafeURL as exc:
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


def _pending():
    return WebhookAttempt.objects.filter(subscription__isnull=True, event_type=EVENT_TYPE)


def retry_due(now: datetime | None = None, limit: int = RETRY_BATCH) -> int:
    """Queue a retry for every notification attempt whose time has come."""
    now = now or timezone.now()
    due = list(
        _pending().filter(next_attempt_at__lte=now).order_by("next_attempt_at").values_list("id", flat=True)[:limit]
    )
    for attempt_id in due:
        async_task(RETRY_TASK, attempt_id)
    return len(due)


def retry(attempt_id: int, now: datetime | None = None) -> WebhookAttempt | None:
    """The next attempt after failed attempt `attempt_id`, made once (claimed with a lease,
    as messaging.services.webhooks.retry does, so a dead worker's claim comes back)."""
    now = now or timezone.now()
    previous = _pending().filter(id=attempt_id, next_attempt_at__isnull=False).first()
    if previous is None:
        return None
    claimed = _pending().filter(id=attempt_id, next_attempt_at=previous.next_attempt_at).update(
        next_attempt_at=max(now, previous.next_attempt_at) + webhooks.RETRY_LEASE
    )
    if claimed != 1:
        return None
    row = deliver(previous.workspace_id, previous.url, previous.payload, previous.webhook_id, previous.attempt + 1)
    _pending().filter(id=attempt_id).update(next_attempt_at=None)
    return row


# --- django-q2 tasks (stored by dotted path: keep these names) --------------------------------------


def deliver_notification(workspace_id: str, url: str, payload: dict, webhook_id: str) -> int:
    return deliver(workspace_id, url, payload, webhook_id).id


def retry_notification(attempt_id: int) -> int | None:
    row = retry(attempt_id)
    return row.id if row else None


def retry_due_notifications(now: datetime | None = None) -> int:
    return retry_due(now)


# --- the retry sweep's schedule ----------------------------------------------------------------------


def ensure_schedule() -> bool:
    from django_q.models import Schedule

    _, created = Schedule.objects.update_or_create(
        name=SCHEDULE_NAME,
        defaults={"func": SWEEP_TASK, "schedule_type": Schedule.MINUTES, "minutes": 1, "repeats": -1},
        create_defaults={
            "func": SWEEP_TASK,
            "schedule_type": Schedule.MINUTES,
            "minutes": 1,
            "repeats": -1,
            "next_run": timezone.now(),
        },
    )
    return created


def on_post_migrate(sender=None, using: str = "default", **kwargs) -> None:
    from django.db import connections
    from django_q.models import Schedule

    if Schedule._meta.db_table in connections[using].introspection.table_names():
        ensure_schedule()
