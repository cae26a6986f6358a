"""django-q2 tasks of webhook subscriptions (messaging.services.webhooks).

Stored in the queue and in schedules by dotted path: keep these names stable.
"""

from datetime import datetime

from messaging.services import webhooks


def deliver_webhook(subscription_id: str, event_type: str, payload: dict, webhook_id: str) -> int | None:
    """First attempt of one event to one subscription; returns the attempt id."""
    row = webhooks.deliver(subscription_id, event_type, payload, webhook_id)
    return row.id if row else None


def retry_webhook(attempt_id: int) -> int | None:
    """The next attempt after a failed one, made once; returns the new attempt id."""
    row = webhooks.retry(attempt_id)
    return row.id if row else None


def retry_due_webhooks(now: datetime | None = None) -> int:
    """Every minute (schedule created by a migration): queue retries whose time has come.

    `now` lets tests move time forward; the schedule calls it without arguments.
    """
    return webhooks.retry_due(now)
