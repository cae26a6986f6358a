"""`/ws/engine/`: one phone's websocket session (seed 000, SPEC §3.5).

The consumer is thin: it authenticates, joins the device's channel-layer group (so any
process can send it frames), decodes each frame with the codec and hands the payload to
a service function (messaging.engine.sessions / routing / sync). A frame that does not
decode, or whose handler fails, is logged with the device id and dropped — it never
closes a healthy session and never raises out of the consumer.
"""

import logging
import time
from collections.abc import Callable
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from messaging.engine import codec, pump, replies, routing, sessions, sync
from messaging.models import MessagingEndpoint

log = logging.getLogger(__name__)

SEEN_EVERY = 60  # seconds between last_seen_at writes for a chatty device


def token_from_scope(scope) -> str:
    """`Authorization: Bearer <token>`, else `?token=`."""
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, credentials = value.decode("latin1").partition(" ")
            if scheme.lower() == "bearer" and credentials.strip():
                return credentials.strip()
    query = parse_qs(scope.get("query_string", b"").decode("latin1"))
    return (query.get("token") or [""])[0]


def _send_failed(endpoint: MessagingEndpoint, p: dict) -> None:
    routing.send_failed(endpoint, p["token"], p["code"], p.get("message") or "")


def _status_succeeded(endpoint: MessagingEndpoint, p: dict) -> None:
    sync.status_replied(endpoint, p["token"])


def _status_failed(endpoint: MessagingEndpoint, p: dict) -> None:
    sync.status_replied(endpoint, p["token"], p["code"], p.get("message") or "")


def _state(endpoint: MessagingEndpoint, p: dict) -> None:
    sessions.update_state(endpoint, p["connectionState"], p["sendPermission"], p["readPermission"])


def _report(endpoint: MessagingEndpoint, p: dict) -> None:
    sync.conversations_reported(endpoint, p["token"], p["conversations"])


HANDLERS: dict[str, Callable[[MessagingEndpoint, dict], None]] = {
    codec.SEND_MESSAGE_FAILED: _send_failed,
    codec.UPDATE_MESSAGES_STATUS_SUCCEEDED: _status_succeeded,
    codec.UPDATE_MESSAGES_STATUS_FAILED: _status_failed,
    codec.UPDATE_MESSAGING_ENDPOINT_STATE: _state,
    codec.CONVERSATIONS_REPORT: _report,
}


class EngineConsumer(AsyncWebsocketConsumer):
    endpoint: MessagingEndpoint | None = None
    group = ""
    seen_at = 0.0

    async def connect(self) -> None:
        token = token_from_scope(self.scope)
        endpoint = await database_sync_to_async(sessions.authenticate)(token) if token else None
        if endpoint is None:
            log.warning("engine: handshake from %s refused: missing or unknown token", self.scope.get("client"))
            await self.close()  # before accept(): the handshake is rejected (HTTP 403)
            return
        self.endpoint = endpoint
        self.group = routing.group_name(endpoint.id)
        await database_sync_to_async(sessions.opened)(endpoint, self.channel_name)
        # A phone that reconnects before its old socket timed out: the old session leaves,
        # so a SendMessage never reaches the same phone twice.
        await self.channel_layer.group_send(self.group, {"type": "engine.replaced", "by": self.channel_name})
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        pump.register(endpoint.id, self.channel_name)
        self.seen_at = time.monotonic()
        log.info("device %s connected (%s)", endpoint.id, self.channel_name)

    async def disconnect(self, code) -> None:
        if self.endpoint is None:
            return
        pump.unregister(self.endpoint.id, self.channel_name)
        try:
            await self.channel_layer.group_discard(self.group, self.channel_name)
            # Successes it sent before leaving are recorded first: those must not be re-routed.
            await replies.drain()
            await database_sync_to_async(sessions.closed)(self.endpoint, self.channel_name)
        except Exception:
            log.exception("device %s: cleanup after disconnect failed", self.endpoint.id)
        log.info("device %s disconnected (code %s)", self.endpoint.id, code)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        endpoint = self.endpoint
        if endpoint is None:
            return
        data = text_data if text_data is not None else bytes_data
        try:
            frame = codec.decode(data or "")
        except codec.FrameError as exc:
            log.warning("device %s: frame ignored: %s", endpoint.id, exc.reason)
            return
        try:
            if frame.action == codec.SEND_MESSAGE_SUCCEEDED:
                replies.add(endpoint.id, frame.payload["token"])  # batched: the hot path
            else:
                await database_sync_to_async(HANDLERS[frame.action])(endpoint, frame.payload)
            if time.monotonic() - self.seen_at > SEEN_EVERY:
                self.seen_at = time.monotonic()
                await database_sync_to_async(sessions.seen)(endpoint)
        except codec.FrameError as exc:
            log.warning("device %s: %s frame %s ignored: %s", endpoint.id, frame.action, frame.id, exc.reason)
        except Exception:
            log.exception("device %s: handling %s frame %s failed", endpoint.id, frame.action, frame.id)

    # --- from the channel layer ---

    async def engine_frames(self, event: dict) -> None:
        for frame in event["frames"]:
            await self.send(text_data=frame)

    async def engine_replaced(self, event: dict) -> None:
        if event.get("by") != self.channel_name and self.endpoint is not None:
            log.info("device %s: session %s replaced by a new one", self.endpoint.id, self.channel_name)
            await self.channel_layer.group_discard(self.group, self.channel_name)
            await self.close(code=4001)
