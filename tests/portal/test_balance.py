"""The shared connection counts behind serve's least-connections accept (portal/balance.py).
The end-to-end split over real daphne processes is tested in tests/commands/test_serve.py."""

import os

import pytest

from portal import balance


@pytest.fixture
def tables():
    fd = balance.create_table(3)
    try:
        yield [balance.Table(fd, slot, 3) for slot in range(3)]
    finally:
        os.close(fd)


def test_a_process_that_is_not_serving_yet_is_left_out(tables):
    first, second, third = tables
    assert first.counts() == [-1, -1, -1]
    first.start_serving()
    first.opened()
    first.opened()
    assert first.counts() == [2, -1, -1]
    assert not first.should_wait()  # nobody else serves: it takes every connection


def test_the_process_with_more_connections_steps_aside(tables):
    first, second, third = tables
    for table in tables:
        table.start_serving()
    first.opened()
    assert first.should_wait()  # 1 against 0 and 0
    assert not second.should_wait() and not third.should_wait()
    second.opened()
    third.opened()
    assert [t.should_wait() for t in tables] == [False, False, False]  # a tie: anyone may accept
    first.closed()
    assert second.counts() == [0, 1, 1]
    assert second.should_wait() and not first.should_wait()


def test_closing_more_than_was_opened_never_goes_below_zero(tables):
    first = tables[0]
    first.start_serving()
    first.closed()
    assert first.counts()[0] == 0


def test_the_environment_names_descriptor_slot_and_count(tables):
    fd = balance.create_table(2)
    try:
        table = balance.table_from_env({balance.ENV: f"{fd}:1:2"})
        table.start_serving()
        assert table.counts() == [-1, 0]
        assert balance.table_from_env({}) is None
        with pytest.raises(ValueError):
            balance.Table(fd, 2, 2)
    finally:
        os.close(fd)
