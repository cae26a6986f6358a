"""django-q2 Schedule rows of the device protocol, created after every `migrate`.

Task names are dotted paths stored in the database: keep them stable.
- expire_device_requests: SendMessage requests unanswered past the channel's
  send_timeout_seconds go to another device (or fail when out of attempts);
- request_conversation_sync: UploadConversations to phones with read permission, each at
  most once per its channel's sync_interval_seconds (so the schedule itself runs often).
"""

from datetime import timedelta

from messaging.schedules import django_q_migrated, ensure_every_minute

SCHEDULES = {
    "switchboard: engine device request timeouts": ("messaging.engine.routing.expire_device_requests", 15),
    "switchboard: engine conversation sync": ("messaging.engine.sync.request_conversation_sync", 45),
}


def ensure_schedules() -> int:
    """Create the Schedule rows if missing (idempotent); returns how many were created."""
    return sum(
        ensure_every_minute(name, func, first_run_in=timedelta(seconds=offset))
        for name, (func, offset) in SCHEDULES.items()
    )


def on_post_migrate(sender=None, using: str = "default", **kwargs) -> None:
    if django_q_migrated(using):  # else the next migrate creates them
        ensure_schedules()
