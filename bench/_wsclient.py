"""A minimal websocket client for bench/live.py: RFC 6455 on an asyncio Protocol.

The benchmark's 50 sockets receive up to 50,000 frames a second on the same 2-core
machine as the server. The `websockets` library spends ~20 µs of CPU per received frame
in Python (its parser is a generator per frame), as much as the server spends sending
it, so the clients themselves became the bottleneck and their queueing was measured as
server latency. This client does the same job — the HTTP upgrade with the key check,
text frames (fragmented or not), ping → pong, close — with a parser that takes all
frames out of a read buffer at once. It is a measuring instrument, not part of the
product; tests/bench/test_wsclient.py checks its parser and uses it against a real daphne.
"""

import asyncio
import base64
import hashlib
import os
import struct
from collections.abc import Callable
from urllib.parse import urlsplit

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, BINARY, CONTINUATION, CLOSE, PING, PONG = 1, 2, 0, 8, 9, 10


class HandshakeFailed(Exception):
    pass


def _mask(payload: bytes) -> tuple[bytes, bytes]:
    key = os.urandom(4)
    return key, bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def client_frame(opcode: int, payload: bytes = b"") -> bytes:
    """One final frame, masked as a client must."""
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
    elif length < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
    key, masked = _mask(payload)
    return header + key + masked


class WebsocketClient(asyncio.Protocol):
    def __init__(self, on_text: Callable[[str], None]):
        self.on_text = on_text
        self.buffer = bytearray()
        self.handshake_done = asyncio.get_running_loop().create_future()
        self.closed = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self._key = base64.b64encode(os.urandom(16)).decode()
        self._fragments: list[bytes] = []
        self._request = b""

    # --- handshake -------------------------------------------------------------------------

    def request(self, url: str, headers: dict[str, str]) -> bytes:
        parts = urlsplit(url)
        lines = [
            f"GET {parts.path or '/'}{'?' + parts.query if parts.query else ''} HTTP/1.1",
            f"Host: {parts.netloc}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {self._key}",
            "Sec-WebSocket-Version: 13",
            *(f"{name}: {value}" for name, value in headers.items()),
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(self._request)

    def _finish_handshake(self) -> None:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
        del self.buffer[: end + 4]
        status = head[0].split(" ", 2)
        fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in head[1:])}
        expected = base64.b64encode(hashlib.sha1(self._key.encode() + GUID).digest()).decode()
        if len(status) < 2 or status[1] != "101":
            self.handshake_done.set_exception(HandshakeFailed(head[0]))
        elif fields.get("sec-websocket-accept") != expected:
            self.handshake_done.set_exception(HandshakeFailed("bad Sec-WebSocket-Accept"))
        else:
            self.handshake_done.set_result(True)

    # --- frames ----------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.handshake_done.done():
            self._finish_handshake()
            if not self.handshake_done.done() or self.handshake_done.exception():
                return
        buf, pos, size = self.buffer, 0, len(self.buffer)
        while size - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            length, head = b1 & 0x7F, 2
            if length == 126:
                if size - pos < 4:
                    break
                (length,) = struct.unpack_from("!H", buf, pos + 2)
                head = 4
            elif length == 127:
                if size - pos < 10:
                    break
                (length,) = struct.unpack_from("!Q", buf, pos + 2)
                head = 10
            if b1 & 0x80:
                raise ValueError("a server must not mask its frames")
            if size - pos < head + length:
                break
            payload = bytes(buf[pos + head : pos + head + length])
            pos += head + length
            self._frame(b0 & 0x80, b0 & 0x0F, payload)
        del buf[:pos]

    def _frame(self, fin: int, opcode: int, payload: bytes) -> None:
        if opcode in (TEXT, BINARY, CONTINUATION):
            if not fin:
                self._fragments.append(payload)
                return
            if self._fragments:
                payload, self._fragments = b"".join(self._fragments) + payload, []
            self.on_text(payload.decode("utf-8"))
        elif opcode == PING:
            self.transport.write(client_frame(PONG, payload))
        elif opcode == CLOSE:
            if not self.transport.is_closing():
                self.transport.write(client_frame(CLOSE, payload[:2]))
                self.transport.close()

    def connection_lost(self, exc) -> None:
        if not self.handshake_done.done():
            self.handshake_done.set_exception(HandshakeFailed(f"connection lost: {exc}"))
        if not self.closed.done():
            self.closed.set_result(exc)

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(client_frame(CLOSE, struct.pack("!H", 1000)))
            self.transport.close()


async def connect(url: str, headers: dict[str, str], on_text: Callable[[str], None]) -> WebsocketClient:
    """Open a websocket; `on_text` is called with every text message. Raises HandshakeFailed."""
    parts = urlsplit(url)
    loop = asyncio.get_running_loop()
    protocol = WebsocketClient(on_text)
    protocol._request = protocol.request(url, headers)
    await loop.create_connection(lambda: protocol, parts.hostname, parts.port or 80)
    await asyncio.wait_for(protocol.handshake_done, 10)
    return protocol
