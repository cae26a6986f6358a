"""Request limits of the user message API (code 98): per API key and per app user.

Fixed windows counted in the database (RateCounter, one row per key), so every web
process shares one count — an in-process cache would let N processes allow N times the
limit. Rates are settings like "120/min" (USER_API_RATE per app user, USER_API_KEY_RATE
per API key; see portal/settings.py).
"""

import random
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from messaging.dialects.user_messages.errors import TOO_MANY_REQUESTS, UserApiError
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


def hit(key: str, rate: str, now: datetime | None = None) -> tuple[bool, int]:
    """Count one request for `key`; (allowed, seconds until the window ends)."""
    limit, seconds = parse_rate(rate)
    now = now or timezone.now()
    start = _window(now, seconds)
    count = _increment(key[:200], start)
    retry_after = max(1, int((start + timedelta(seconds=seconds) - now).total_seconds()))
    return count <= limit, retry_after


def _increment(key: str, start: datetime) -> int:
    """The count of `key` in the window starting at `start`, after adding this request."""
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


def check(key: str, rate: str, who: str) -> None:
    allowed, retry_after = hit(key, rate)
    if not allowed:
        raise UserApiError(
            TOO_MANY_REQUESTS,
            f"Too many requests for this {who} (limit {rate}); try again in {retry_after} s.",
            retry_after=retry_after,
        )


def check_api_key(service_id) -> None:
    check(f"u3:key:{service_id}", settings.USER_API_KEY_RATE, "API key")


def check_app_user(user_id) -> None:
    check(f"u3:user:{user_id}", settings.USER_API_RATE, "user")


def check_login(service_id, username: str) -> None:
    """Login attempts per username count like a user's requests: no password guessing
    at the API key's (much higher) rate."""
    check(f"u3:login:{service_id}:{username}", settings.USER_API_RATE, "user")
