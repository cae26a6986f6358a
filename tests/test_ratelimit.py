"""Fixed-window counters shared through the database (003 throttles, wrong-password limit)."""

from datetime import UTC, datetime, timedelta

from messaging.models import RateCounter
from messaging.services import ratelimit

T0 = datetime(2025, 1, 31, 9, 0, 10, tzinfo=UTC)


def test_a_key_is_held_back_within_its_window_and_let_go_in_the_next(db):
    assert [ratelimit.hit("k", "2/min", now=T0)[0] for _ in range(3)] == [True, True, False]
    allowed, retry_after = ratelimit.hit("k", "2/min", now=T0)
    assert not allowed and retry_after == 50  # the window ends at 09:01:00
    assert ratelimit.hit("k", "2/min", now=T0 + timedelta(minutes=1))[0] is True
    assert ratelimit.hit("other", "2/min", now=T0)[0] is True
    assert RateCounter.objects.get(key="k").count == 1


def test_stale_counters_are_pruned(db, monkeypatch):
    # hit() itself prunes now and then (PRUNE_CHANCE): not here, or "old" may be gone first.
    monkeypatch.setattr(ratelimit, "PRUNE_CHANCE", 0)
    ratelimit.hit("old", "5/min", now=T0 - timedelta(days=3))
    ratelimit.hit("fresh", "5/min", now=T0)
    assert ratelimit._prune(T0) == 1
    assert list(RateCounter.objects.values_list("key", flat=True)) == ["fresh"]


def test_rates_are_parsed(db):
    assert ratelimit.parse_rate("120/min") == (120, 60)
    assert ratelimit.parse_rate("5/day") == (5, 86400)


def test_give_back_takes_one_count_back_and_never_below_zero(db):
    ratelimit.hit("k", "2/min", now=T0)
    ratelimit.hit("k", "2/min", now=T0)
    ratelimit.give_back("k", "2/min", now=T0)
    assert RateCounter.objects.get(key="k").count == 1
    ratelimit.give_back("k", "2/min", now=T0)
    ratelimit.give_back("k", "2/min", now=T0)
    assert RateCounter.objects.get(key="k").count == 0
