"""Least-connections accept for several daphne processes on one listening socket.

`manage.py serve --web-processes N` gives its N daphne processes one listening socket.
Left alone, whichever process wakes first accepts a whole burst of new connections
(twisted accepts up to 100 per wake-up): a client pool opening 20 keep-alive connections
at once landed 0/20 or 1/19. SO_REUSEPORT sockets, which serve used before, spread them
by a hash of the client's address instead, which is fair only on average: bench/send.py
saw 17/3 as well as 10/10, and with 17 connections on one process and 3 on the other the
17 waited five times as long for each answer (send p99 ~180 ms where the 3 saw ~40 ms).

Here each process counts its open connections in a slot of a small shared table (a
file serve creates, unlinks at once and hands down as an inherited descriptor) and
accepts one connection at a time, and only while it holds no more connections than the
least loaded of the others. A process with more steps aside for DEFER_SECONDS and looks
again; after about MAX_DEFER_SECONDS of that it accepts the pending connection anyway
(and, for BYPASS_SECONDS, whatever else is waiting), so a peer that is stuck, starting or
stopping never leaves clients waiting for long. Long-lived websockets count like any
other connection.

The table: one signed 64-bit count per process, -1 until that process is serving. Each
process writes only its own slot and reads the others', without a lock: a read that
races a write can at worst make one accept decision on a stale count.
"""

import logging
import mmap
import os
import select
import struct

ENV = "WEB_BALANCE"  # "<fd>:<slot>:<processes>", set by serve for each daphne process
DEFER_SECONDS = 0.002
MAX_DEFER_SECONDS = 0.05
BYPASS_SECONDS = 0.1
SLOT = struct.Struct("q")

log = logging.getLogger(__name__)


def create_table(processes: int) -> int:
    """A descriptor of a new table of `processes` slots, each -1 (not serving yet). The
    file is removed at once: it lives as long as a process holds the descriptor."""
    fd = os.memfd_create("switchboard-web-balance") if hasattr(os, "memfd_create") else _temp_fd()
    os.write(fd, SLOT.pack(-1) * processes)
    return fd


def _temp_fd() -> int:
    import tempfile

    fd, path = tempfile.mkstemp(prefix="switchboard-web-balance-")
    os.unlink(path)
    return fd


class Table:
    """This process's view of the shared counts."""

    def __init__(self, fd: int, slot: int, processes: int):
        if not 0 <= slot < processes:
            raise ValueError(f"slot {slot} outside 0..{processes - 1}")
        self.slot, self.processes = slot, processes
        self.map = mmap.mmap(fd, SLOT.size * processes)
        self.count = 0
        self.serving = False  # its slot says -1 until the reactor first offers it a connection

    def start_serving(self) -> None:
        self.serving = True
        self._write(self.count)

    def _write(self, value: int) -> None:
        SLOT.pack_into(self.map, self.slot * SLOT.size, value)

    def counts(self) -> list[int]:
        return [SLOT.unpack_from(self.map, i * SLOT.size)[0] for i in range(self.processes)]

    def opened(self) -> None:
        self.count += 1
        if self.serving:
            self._write(self.count)

    def closed(self) -> None:
        self.count = max(self.count - 1, 0)
        if self.serving:
            self._write(self.count)

    def should_wait(self) -> bool:
        """True while another serving process holds fewer connections than this one."""
        others = [n for i, n in enumerate(self.counts()) if i != self.slot and n >= 0]
        return bool(others) and self.count > min(others)


def table_from_env(environ=os.environ) -> Table | None:
    value = environ.get(ENV, "")
    if not value:
        return None
    fd, slot, processes = (int(part) for part in value.split(":"))
    try:
        return Table(fd, slot, processes)
    finally:
        os.close(fd)  # the mapping keeps the table; the descriptor is not needed any more


def install(table: Table) -> None:
    """Make twisted's listening ports accept by `table` and count accepted connections in it."""
    from twisted.internet import tcp

    accept = tcp.Port.doRead
    server_init = tcp.Server.__init__
    lost = tcp.Server.connectionLost

    def doRead(port):
        if step_aside(port, table):
            # Stop watching the socket for a moment so a less loaded peer takes the
            # connection (watching it, the reactor would call us again at once).
            port.stopReading()
            port.reactor.callLater(DEFER_SECONDS, resume, port)
            return None
        return accept(port)

    def __init__(server, *args, **kwargs):
        server_init(server, *args, **kwargs)
        server._balance_counted = True
        table.opened()

    def connectionLost(server, reason):
        if getattr(server, "_balance_counted", False):
            server._balance_counted = False
            table.closed()
        return lost(server, reason)

    tcp.Port.doRead = doRead
    tcp.Server.__init__ = __init__
    tcp.Server.connectionLost = connectionLost


def step_aside(port, table: Table) -> bool:
    """Whether `port` should leave the pending connection to a peer for DEFER_SECONDS.

    A connection this process has waited MAX_DEFER_SECONDS for is accepted, and for
    BYPASS_SECONDS after that the port accepts as twisted does on its own, as many per
    wake-up as are waiting: the peers are not taking connections (stuck, starting or
    stopping), and one connection per 50 ms would throttle a burst. A failure here (the
    table, say) is logged and the connection accepted: a listening port whose doRead
    raises is dropped by the reactor for good."""
    try:
        now = port.reactor.seconds()
        if not table.serving:
            table.start_serving()
        if now < getattr(port, "_balance_bypass_until", 0.0):
            return False
        if table.should_wait():
            first = getattr(port, "_balance_waiting_since", None)
            if first is None:
                port._balance_waiting_since = first = now
            if now - first < MAX_DEFER_SECONDS:
                return True
            port._balance_bypass_until = now + BYPASS_SECONDS
        port._balance_waiting_since = None
        port.numberAccepts = 1  # one per wake-up, then the counts are looked at again
        return False
    except Exception:
        log.exception("web balance: deciding whether to accept failed; accepting")
        return False


def resume(port) -> None:
    """Watch the listening socket again after stepping aside. If a peer took the
    connection meanwhile, the next one starts a wait of its own."""
    if not port.connected or port.disconnecting:  # closing (shutdown)
        return
    if not _pending(port):
        port._balance_waiting_since = None
    port.startReading()


def _pending(port) -> bool:
    """Whether a connection waits on the listening socket (without accepting it)."""
    try:
        return bool(select.select([port.socket], [], [], 0)[0])
    except (OSError, ValueError):
        return False
