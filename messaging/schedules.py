"""django-q2 schedules of the project: every sweep runs once a minute, created after `migrate`.

Task names are dotted paths stored in the database: keep them stable.
"""

from datetime import timedelta

from django.utils import timezone


def ensure_every_minute(name: str, func: str, first_run_in: timedelta = timedelta(0)) -> bool:
    """Create (or repair) the every-minute Schedule `name` running `func`; True if created.

    `first_run_in` staggers sweeps that should not all start in the same second; an existing
    row keeps its next_run.
    """
    from django_q.models import Schedule

    defaults = {"func": func, "schedule_type": Schedule.MINUTES, "minutes": 1, "repeats": -1}
    _, created = Schedule.objects.update_or_create(
        name=name,
        defaults=defaults,
        create_defaults={**defaults, "next_run": timezone.now() + first_run_in},
    )
    return created


def django_q_migrated(using: str = "default") -> bool:
    """For post_migrate handlers: django_q's tables exist (else the next migrate creates them)."""
    from django.db import connections
    from django_q.models import Schedule

    return Schedule._meta.db_table in connections[using].introspection.table_names()
