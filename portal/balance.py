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
again; a pending connection waits at most MAX_DEFER_SECONDS before the process accepts
it anyway, so a peer that is stuck (or still starting) never leaves a client waiting for
long. Long-lived websockets count like any other connection.

The table: one signed 64-bit count per process, -1 until that process is serving. Each
process writes only its own slot and reads the others' (aligned 8-byte reads and writes
are atomic on the platforms serve runs on), so no lock is needed.
"""

import mmap
import os
import struct
import time

ENV = "WEB_BALANCE"  # "<fd>:<slot>:<processes>", set by serve for each daphne process
DEFER_SECONDS = 0.002
MAX_DEFER_SECONDS = 0.05
SLOT = struct.Struct("q")


def create_table(processes: int) -> int:
    """A descriptor of a new table of `processes` slots, each -1 (not serving yet). The
    file is removed at once: it lives as long as a process holds the descriptor."""
    fd = os.memfd_create("switchboard-web-balance", 0) if hasattr(os, "memfd_create") else _temp_fd()
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
    return Table(fd, slot, processes)


def install(table: Table) -> None:
    """Make twisted's listening ports accept by `table` and count accepted connections in it."""
    from twisted.internet import tcp

    accept = tcp.Port.doRead
    server_init = tcp.Server.__init__
    lost = tcp.Server.connectionLost

    def doRead(port):
        if not table.serving:
            table.start_serving()
        if table.should_wait():
            now = time.monotonic()
            first = getattr(port, "_balance_waiting_since", None)
            if first is None:
                port._balance_waiting_since = first = now
            if now - first < MAX_DEFER_SECONDS:
                # Step aside: stop watching the socket for a moment so a less loaded peer
                # takes the connection (watching it, the reactor would call us at once).
                port.stopReading()
                port.reactor.callLater(DEFER_SECONDS, _resume, port)
                return None
        port._balance_waiting_since = None
        port.numberAccepts = 1  # one per wake-up, then the counts are looked at again
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


def _resume(port) -> None:
    if port.connected:  # not closed meanwhile (shutdown)
        port.startReading()
