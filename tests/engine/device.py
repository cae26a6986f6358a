"""A scripted phone for tests: a WebsocketCommunicator on /ws/engine/ speaking the codec."""

import asyncio
import time
from collections.abc import Callable

from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from messaging.engine import codec
from messaging.routing import websocket_application

QUIET = 0.3  # seconds to wait for a frame that must not come


class Device:
    def __init__(self, token: str | None, headers: list | None = None, path: str = "/ws/engine/"):
        headers = list(headers or [])
        if token is not None:
            headers.append((b"authorization", f"Bearer {token}".encode()))
        self.comm = WebsocketCommunicator(websocket_application, path, headers=headers)
        self.connected = False

    async def connect(self) -> bool:
        self.connected, _ = await self.comm.connect(timeout=10)
        return self.connected

    async def send(self, frame: str) -> None:
        await self.comm.send_to(text_data=frame)

    async def recv(self, timeout: float = 3) -> codec.Frame:
        return codec.decode(await self.comm.receive_from(timeout=timeout), expect=codec.TO_DEVICE)

    async def recv_all(self, count: int, timeout: float = 5) -> list[codec.Frame]:
        return [await self.recv(timeout) for _ in range(count)]

    async def silent(self, timeout: float = QUIET) -> bool:
        return await self.comm.receive_nothing(timeout=timeout)

    async def ready(self, endpoint, send: str = "ON", read: str = "ON") -> None:
        """Report CONNECTED + permissions and wait until the server stored them."""
        await self.send(codec.endpoint_state("CONNECTED", send, read))

        def stored() -> bool:
            endpoint.refresh_from_db()
            return endpoint.send_permission == send and endpoint.connection_state == "CONNECTED"

        await until(stored)

    async def close(self) -> None:
        await self.comm.disconnect()
        self.connected = False


async def until(check: Callable[[], bool], timeout: float = 5, what: str = "condition") -> None:
    """Poll a (sync, ORM-using) check until it holds; fail the test at the deadline."""
    deadline = time.monotonic() + timeout
    run = database_sync_to_async(check)
    while not await run():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)
