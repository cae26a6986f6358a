"""Seed-002 delivery notifications to notify URLs (SPEC §3.2, §4).

Every change of a message's 002 delivery status (render.DELIVERY_STATUS: Queued →
Submitted → Delivered, or a failure word) is POSTed as the seed's
`{"deliveryInfoNotification": {...}}` to the message's notify URL (the request's
`notifyurl`), or else to its service's current notify URL. Changes inside "Queued"
(accepted → processing, a retry's requeue) are not news to the client and are not sent.

- `on_status_changed` (connected in messaging.listeners, so on commit only) reads the
  changed messages that have a notify target in one query and queues one django-q2 task
  per notification. Changes whose writer already knows there is no target (no service, no
  notify URL: `StatusChange.notify` False, as for every canonical-API message) cost no query.
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
from datetime import datetime

from django.db.models import Q
from django.utils import timezone
from django_q.tasks import async_task

from messaging.dialects.multichannel import render
from messaging.models import Direction, Message, WebhookAttempt
from messaging.schedules import django_q_migrated, ensure_every_minute
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
    visible = [
        c
        for c in changes
        if c.notify is not False and render.DELIVERY_STATUS.get(c.status, ("",))[0] not in ("", render.QUEUED_WORD)
    ]
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
    # Unsigned: the seed's notify URLs know no signing secret; the id lets them deduplicate.
    webhooks.post_attempt(row, webhooks.encode(payload), {"webhook-id": webhook_id})
    if not row.succeeded:
        if row.status_code == 410:
            row.error = f"{row.error}; the receiver answered 410 Gone, not retried"[:500]
        else:
            webhooks.plan_retry(row)
    row.save()
    return row


def _pending():
    return WebhookAttempt.objects.filter(subscription__isnull=True, event_type=EVENT_TYPE)


def retry_due(now: datetime | None = None, limit: int = RETRY_BATCH) -> int:
    """Queue a retry for every notification attempt whose time has come."""
    return webhooks.queue_due(_pending(), RETRY_TASK, now, limit)


def retry(attempt_id: int, now: datetime | None = None) -> WebhookAttempt | None:
    """The next attempt after failed attempt `attempt_id`, made once (claimed with a lease,
    as messaging.services.webhooks.retry does, so a dead worker's claim comes back)."""
    return webhooks.retry_once(
        _pending(),
        attempt_id,
        now,
        lambda p: deliver(p.workspace_id, p.url, p.payload, p.webhook_id, p.attempt + 1),
    )


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
    return ensure_every_minute(SCHEDULE_NAME, SWEEP_TASK)


def on_post_migrate(sender=None, using: str = "default", **kwargs) -> None:
    if django_q_migrated(using):
        ensure_schedule()
