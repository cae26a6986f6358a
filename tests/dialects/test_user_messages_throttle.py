"""The 003 rate limiter's fixed windows, shared through the database."""

from datetime import UTC, datetime, timedelta

from messaging.dialects.user_messages import throttle
from messaging.models import RateCounter

T0 = datetime(2025, 1, 31, 9, 0, 10, tzinfo=UTC)


def test_a_key_is_held_back_within_its_window_and_let_go_in_the_next(db):
    assert [throttle.hit("k", "2/min", now=T0)[0] for _ in range(3)] == [True, True, False]
    allowed, retry_after = throttle.hit("k", "2/min", now=T0)
    assert not allowed and retry_after == 50  # the window ends at 09:01:00
    assert throttle.hit("k", "2/min", now=T0 + timedelta(minutes=1))[0] is True
    assert throttle.hit("other", "2/min", now=T0)[0] is True
    assert RateCounter.objects.get(key="k").count == 1


def test_stale_counters_are_pruned(db):
    throttle.hit("old", "5/min", now=T0 - timedelta(days=3))
    throttle.hit("fresh", "5/min", now=T0)
    assert throttle._prune(T0) == 1
    assert list(RateCounter.objects.values_list("key", flat=True)) == ["fresh"]


def test_rates_are_parsed(db):
    assert throttle.parse_rate("120/min") == (120, 60)
    assert throttle.parse_rate("5/day") == (5, 86400)
