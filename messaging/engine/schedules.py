"""django-q2 Schedule rows of the device protocol, created after every `migrate`.

Task names are dotted paths stored in the database: keep them stable.
- expire_device_requests: SendMessage requests unanswered past the channel's
  send_timeout_seconds go to another device (or fail when out of attempts);
- request_conversation_sync: UploadConversations to phones with read permission, each at
  most once per its channel's sync_interval_seconds (so the schedule itself runs often).
"""

from datetime import timedelta

from django.utils import timezone

SCHEDULES = {
    "switchboard: engine device request timeouts": ("messaging.engine.routing.expire_device_requests", 15),
    "switchboard: engine conversation sync": ("messaging.engine.sync.request_conversation_sync", 45),
}


def ensure_schedules() -> int:
    """Create the Schedule rows if missing (idempotent); returns how many were created."""
    from django_q.models import Schedule

    created = 0
    for name, (func, offset) in SCHEDULES.items():
        defaults = {"func": func, "schedule_type": Schedule.MINUTES, "minutes": 1, "repeats": -1}
        _, was_created = Schedule.objects.update_or_create(
            name=name,
            defaults=defaults,
            create_defaults={**defaults, "next_run": timezone.now() + timedelta(seconds=offset)},
        )
        created += was_created
    return created


def on_post_migrate(sender=None, using: str = "default", **kwargs) -> None:
    from django.db import connections
    from django_q.models import Schedule

    if Schedule._meta.db_table not in connections[using].introspection.table_names():
        return  # django_q not migrated yet: the next migrate creates them
    ensure_schedules()
