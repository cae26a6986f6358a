"""Fixed-window counters in the database (RateCounter, one row per key).

Every web process shares one count: an in-process cache would let N processes allow N
times the limit. Rates look like "120/min" (sec, min, hour, day). Used by the seed-003
request throttles (messaging/dialects/user_messages/throttle.py) and the app users'
wrong-password limit (messaging/services/passwords.py).
"""

import random
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from messaging.models import RateCounter

UNITS = {"sec": 1, "min": 60, "hour": 3600, "day": 86400}
# Keys come and go (one per login name tried), so now and then a new key's request clears
# rows whose window ended more than a day ago; no window is longer than a day.
PRUNE_CHANCE = 0.01


def parse_rate(rate: str) -> tuple[int, int]:
    """"120/min" → (120, 60)."""
    count, _, unit = str(rate).partition("/")
    return int(count), UNITS[unit.strip()]


def _window(now: datetime, seconds: int) -> datetime:
    epoch = int(now.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=now.tzinfo)


def _retry_after(start: datetime, seconds: int, now: datetime) -> int:
    return max(1, int((start + timedelta(seconds=seconds) - now).total_seconds()))


def hit(key: str, rate: str, now: datetime | None = None) -> tuple[bool, int]:
    """Count one event for `key`; (still within the limit, seconds until the window ends)."""
    limit, seconds = parse_rate(rate)
    now = now or timezone.now()
    start = _window(now, seconds)
    count = _increment(key[:200], start)
    return count <= limit, _retry_after(start, seconds, now)


def give_back(key: str, rate: str, now: datetime | None = None) -> None:
    """Take back one event counted by hit() in the current window (it turned out not to count)."""
    _, seconds = parse_rate(rate)
    start = _window(now or timezone.now(), seconds)
    RateCounter.objects.filter(key=key[:200], window_start=start, count__gt=0).update(count=F("count") - 1)


def _increment(key: str, start: datetime) -> int:
    """The count of `key` in the window starting at `start`, after adding this event."""
    rows = RateCounter.objects.filter(key=key)
    for _ in range(3):
        if rows.filter(window_start=start).update(count=F("count") + 1):
            break
        if rows.exclude(window_start=start).update(window_start=start, count=1):
            break
        try:
            with transaction.atomic():
                RateCounter.objects.create(key=key, window_start=start, count=1)
            if random.random() < PRUNE_CHANCE:
                _prune(start)
            break
        except IntegrityError:  # another request created it first: count on its row
            continue
    return rows.values_list("count", flat=True).first() or 1


def _prune(now: datetime) -> int:
    return RateCounter.objects.filter(window_start__lt=now - timedelta(days=2)).delete()[0]
