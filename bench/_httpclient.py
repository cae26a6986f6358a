"""A minimal HTTP/1.1 keep-alive client for bench/send.py, on an asyncio Protocol.

bench/send.py runs its 20 clients on the same 2-core machine as the server. httpx spends
about 1.5 ms of CPU per request in Python (request building, header models, its
connection pool, the h11 state machine), ~30% of what the server spends answering, and
that CPU is taken from the server it measures. This client does only what the benchmark
needs — one connection, one request at a time, `Content-Length` or chunked answers, the
status and the body — at a fraction of the cost. It is a measuring instrument, not part of
the product; tests/bench/test_httpclient.py checks its parser and uses it against a real
daphne.
"""

import asyncio


class ConnectionClosed(Exception):
    pass


class Response:
    __slots__ = ("status_code", "headers", "content")

    def __init__(self, status_code: int, headers: dict[str, str], content: bytes):
        self.status_code, self.headers, self.content = status_code, headers, content

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")


class HttpConnection(asyncio.Protocol):
    """One keep-alive connection: `await request(method, path, body)` one at a time."""

    def __init__(self, host: str, headers: dict[str, str]):
        self.prefix = "".join(f"{k}: {v}\r\n" for k, v in {"Host": host, **headers}.items())
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future | None = None
        self.closed = False
        self._head: tuple[int, dict[str, str]] | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    async def request(self, method: str, path: str, body: bytes = b"") -> Response:
        if self.closed:
            raise ConnectionClosed("the server closed the connection")
        self.waiter = asyncio.get_running_loop().create_future()
        head = f"{method} {path} HTTP/1.1\r\n{self.prefix}Content-Length: {len(body)}\r\n\r\n"
        self.transport.write(head.encode("latin-1") + body)
        return await self.waiter

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        response = self.parse()
        if response is not None and self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(response)

    def parse(self) -> Response | None:
        """The whole response in the buffer (consumed), or None while it is incomplete."""
        buf = self.buffer
        if self._head is None:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return None
            lines = bytes(buf[:end]).decode("latin-1").split("\r\n")
            del buf[: end + 4]
            fields = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                fields[name.strip().lower()] = value.strip()
            self._head = (int(lines[0].split(" ", 2)[1]), fields)
        status, fields = self._head
        if fields.get("transfer-encoding", "").lower() == "chunked":
            body = self._chunked()
            if body is None:
                return None
        else:
            length = int(fields.get("content-length", 0))
            if len(buf) < length:
                return None
            body = bytes(buf[:length])
            del buf[:length]
        self._head = None
        return Response(status, fields, body)

    def _chunked(self) -> bytes | None:
        buf, pos, parts = self.buffer, 0, []
        while True:
            line_end = buf.find(b"\r\n", pos)
            if line_end < 0:
                return None
            size = int(bytes(buf[pos:line_end]).split(b";")[0], 16)
            start = line_end + 2
            if size == 0:
                trailer_end = buf.find(b"\r\n", start)  # no trailers expected: just the last CRLF
                if trailer_end < 0:
                    return None
                del buf[: trailer_end + 2]
                return b"".join(parts)
            if len(buf) < start + size + 2:
                return None
            parts.append(bytes(buf[start : start + size]))
            pos = start + size + 2

    def connection_lost(self, exc) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionClosed(f"connection lost: {exc}"))

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()


async def connect(host: str, port: int, headers: dict[str, str]) -> HttpConnection:
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_connection(lambda: HttpConnection(f"{host}:{port}", headers), host, port)
    return protocol
