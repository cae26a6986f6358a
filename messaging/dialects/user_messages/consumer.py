"""`/ws/app/`: an app user's live socket (SPEC §3.7).

The app connects with its seed-003 auth token (`Authorization: Bearer <token>` or
`?token=`); an unknown, expired or blocked user's token is refused before the handshake
completes. The socket joins the group `appuser.<id>` and receives, one JSON object per
frame:

    {"type": "message", "message": {messageId, conversationId, sender, recipient, text,
                                    direction, read, locked, timestamp}}
    {"type": "message.updated", "message": {...}}    e.g. the recipient read it

The app reports back on the same socket:

    {"type": "delivered" | "read", "messageId": "<id of a message it received>"}

and gets `{"type": "ack", "for", "messageId", "status": "OK"}` or, with `status` "ERROR",
the seed's `errorCode` / `errorMessage` (e.g. 97 for a message that is not the user's).
Reports go through app_messages.report: the message it was copied from moves to
`delivered` via services/status (the sender's live events and notify URLs follow), and
`read` marks the message read.
"""

import json
import logging

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from messaging.connectors.app import push, relay
from messaging.dialects.user_messages.errors import MISSING_PARAMETER, UserApiError, to_api_error
from messaging.engine.consumer import token_from_scope
from messaging.errors import DomainError
from messaging.models import AppUser
from messaging.services import app_messages as inbox

log = logging.getLogger(__name__)

REPORT_TYPES = ("delivered", "read")
MAX_FRAME = 4096


@database_sync_to_async
def _user_for(token: str) -> AppUser | None:
    try:
        return inbox.user_for_token(token)
    except DomainError:
        return None


@database_sync_to_async
def _report(user: AppUser, kind: str, message_id) -> None:
    inbox.report(user, kind, message_id)


class UserAppConsumer(AsyncWebsocketConsumer):
    user: AppUser | None = None
    group = ""

    async def connect(self) -> None:
        token = token_from_scope(self.scope)
        user = await _user_for(token) if token else None
        if user is None:
            log.info("app socket from %s refused: missing or invalid auth token", self.scope.get("client"))
            await self.close()
            return
        self.user = user
        self.group = push.group_name(user.id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        try:
            await relay.register(user.id, self.channel_name)  # frames written by other processes
            await self.accept()
        except BaseException:  # Channels calls no disconnect() for a failed connect
            relay.unregister(user.id, self.channel_name)
            await self.channel_layer.group_discard(self.group, self.channel_name)
            raise

    async def disconnect(self, code) -> None:
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)
            relay.unregister(self.user.id, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.user is None:
            return
        kind, message_id = "", None
        try:
            kind, message_id = _parse_report(text_data if text_data is not None else bytes_data)
            await _report(self.user, kind, message_id)
            ack = {"status": "OK"}
        except Exception as exc:  # a bad frame is answered, never closes the socket
            error = to_api_error(exc)
            ack = {"status": "ERROR", "errorCode": error.code, "errorMessage": error.message}
        await self.send(text_data=json.dumps({"type": "ack", "for": kind, "messageId": message_id, **ack}))

    async def app_frames(self, event: dict) -> None:  # push.EVENT_TYPE "app.frames"
        for frame in event["frames"]:
            await self.send(text_data=frame)


def _parse_report(raw) -> tuple[str, str]:
    if raw is None or len(raw) > MAX_FRAME:
        raise UserApiError(MISSING_PARAMETER, f"A report is a JSON object of at most {MAX_FRAME} bytes.")
    try:
        frame = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested too deeply
        raise UserApiError(MISSING_PARAMETER, "A report must be a JSON object.") from None
    if not isinstance(frame, dict):
        raise UserApiError(MISSING_PARAMETER, "A report must be a JSON object.")
    kind, message_id = frame.get("type"), frame.get("messageId")
    if kind not in REPORT_TYPES:
        raise UserApiError(MISSING_PARAMETER, "type: must be delivered or read")
    if not isinstance(message_id, str) or not message_id:
        raise UserApiError(MISSING_PARAMETER, "The required parameter 'messageId' was not given.")
    return kind, message_id
