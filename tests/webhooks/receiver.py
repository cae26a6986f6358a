"""A real HTTP receiver for tests: a threaded http.server on a free 127.0.0.1 port.

It records every request (method, path, headers, raw body) and answers with the status
it is told to (`answer(status, body)` for all following requests, or `answer_sequence`
for one status per request). `delay` makes it slow, to test timeouts.
"""

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode()


@dataclass
class _Script:
    status: int = 200
    body: str = "ok"
    sequence: list[tuple[int, str]] = field(default_factory=list)
    delay: float = 0.0


class Receiver:
    def __init__(self) -> None:
        self.requests: list[Received] = []
        self._script = _Script()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    # --- control -------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def url(self, path: str = "/hook", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def answer(self, status: int, body: str = "", delay: float = 0.0) -> None:
        with self._lock:
            self._script = _Script(status=status, body=body, delay=delay)

    def answer_sequence(self, *answers: tuple[int, str]) -> None:
        """One (status, body) per request in order, then the last one again."""
        with self._lock:
            self._script = _Script(status=answers[-1][0], body=answers[-1][1], sequence=list(answers))

    def start(self) -> "Receiver":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.requests

    # --- serving -------------------------------------------------------------------

    def _next_answer(self) -> tuple[int, str, float]:
        with self._lock:
            script = self._script
            if script.sequence:
                status, body = script.sequence.pop(0)
                return status, body, script.delay
            return script.status, script.body, script.delay

    def _handler_class(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                receiver.requests.append(Received("POST", self.path, dict(self.headers.items()), body))
                status, text, delay = receiver._next_answer()
                if delay:
                    time.sleep(delay)
                payload = text.encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "text/plain; charset=utf-8")
                    self.send_header("Content-Length", str(len(payload)))
                    if 300 <= status < 400:
                        self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout tests)
                    pass

            def log_message(self, format, *args) -> None:  # keep test output quiet
                pass

        return Handler
