"""The shared connection counts behind serve's least-connections accept (portal/balance.py).
The end-to-end split over real daphne processes is tested in tests/commands/test_serve.py."""

import os
import socket

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


def test_the_environment_names_descriptor_slot_and_count():
    fd = balance.create_table(2)
    with pytest.raises(ValueError):
        balance.Table(fd, 2, 2)
    table = balance.table_from_env({balance.ENV: f"{fd}:1:2"})
    table.start_serving()
    assert table.counts() == [-1, 0]
    with pytest.raises(OSError):  # the mapping keeps the table; the descriptor was closed
        os.fstat(fd)
    assert balance.table_from_env({}) is None


# --- the accept policy (balance.step_aside / balance.resume) on a fake listening port -------


class FakePort:
    """What step_aside and resume use of twisted's tcp.Port, on a real listening socket."""

    def __init__(self, reactor):
        self.reactor = reactor
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(8)
        self.connected, self.disconnecting, self.reading = True, False, True
        self.numberAccepts = 100

    def stopReading(self):
        self.reading = False

    def startReading(self):
        self.reading = True

    def connection_arrives(self) -> socket.socket:
        return socket.create_connection(self.socket.getsockname())

    def peer_takes_it(self) -> None:
        self.socket.accept()[0].close()


@pytest.fixture
def port():
    from twisted.internet.task import Clock

    fake = FakePort(Clock())
    yield fake
    fake.socket.close()


def busier(tables):
    """This process holds 2 connections, its peer 1."""
    mine, peer = tables[0], tables[1]
    for table in (mine, peer):
        table.start_serving()
    mine.opened()
    mine.opened()
    peer.opened()
    return mine


def test_a_busier_process_steps_aside_then_takes_the_connection_after_the_cap(tables, port):
    mine = busier(tables)
    client = port.connection_arrives()
    waits = 0
    while balance.step_aside(port, mine):
        waits += 1
        port.reactor.advance(balance.DEFER_SECONDS)
        balance.resume(port)
    client.close()
    assert waits == round(balance.MAX_DEFER_SECONDS / balance.DEFER_SECONDS)
    assert port.reading
    # Then, for a short while, it accepts whatever waits (the peer is evidently not taking any).
    assert not balance.step_aside(port, mine)
    port.reactor.advance(balance.BYPASS_SECONDS)
    assert balance.step_aside(port, mine)


def test_after_a_peer_took_the_connection_the_next_one_gets_a_full_wait_again(tables, port):
    """A step-aside that worked must not leave its clock running for the next connection."""
    mine = busier(tables)
    port.connection_arrives()
    assert balance.step_aside(port, mine)
    port.peer_takes_it()
    port.reactor.advance(balance.DEFER_SECONDS)
    balance.resume(port)
    port.reactor.advance(5.0)  # much later, another connection
    client = port.connection_arrives()
    assert balance.step_aside(port, mine)
    client.close()


def test_a_process_with_no_more_than_its_peers_accepts_one_connection_per_wake_up(tables, port):
    mine, peer = tables[0], tables[1]
    mine.start_serving()
    peer.start_serving()
    assert not balance.step_aside(port, mine)
    assert port.numberAccepts == 1


def test_resume_leaves_a_closing_port_alone(tables, port):
    port.disconnecting = True
    port.reading = False
    balance.resume(port)
    assert not port.reading


def test_a_broken_table_never_stops_the_port_accepting(tables, port, caplog):
    mine = busier(tables)
    mine.map.close()  # reading the counts now raises
    assert not balance.step_aside(port, mine)
    assert "accepting" in caplog.text
