"""/ws/live/: pushes the caller's workspaces' live events, one JSON object per frame.

Who may connect: a portal user with a session (AuthMiddlewareStack puts them in
scope["user"]) or an API client sending `Authorization: AccessKey <key>`. Anyone else is
refused before the handshake completes. The socket joins one channel-layer group per
workspace the caller may see (messaging.auth.workspaces_for), so events of any other
workspace never reach it. `?workspace=<id>` narrows the socket to one of them (the
dashboard uses it); asking for a workspace the caller cannot see is refused too.

The socket is send-only: anything the client sends is ignored.

Access is checked again every LIVE_RECHECK_SECONDS while the socket is open, so a revoked
access key, a deactivated user, a signed-out, expired or password-changed session or a
removed membership stops the stream within that time instead of at the next reconnect.
The socket is then closed with 4401 (the credential is no longer valid) or 4403 (it no
longer covers a workspace the socket listens to); the portal stops reconnecting on
either. If the check itself fails three times in a row (database away) the socket closes
with 1011, so it is never left streaming unchecked; the client reconnects and is checked.
"""

import asyncio
import logging
import uuid
from importlib import import_module
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.utils.crypto import constant_time_compare

from messaging.auth import KeyUser, workspaces_for
from messaging.live import relay
from messaging.live.events import group_name
from messaging.models import AccessKey

log = logging.getLogger(__name__)

ACCESS_KEY_KEYWORD = "AccessKey"
REJOIN_SECONDS = 3600
CLOSE_CREDENTIAL_INVALID = 4401
CLOSE_ACCESS_LOST = 4403
CLOSE_CHECK_FAILED = 1011  # "internal error": the client may reconnect (and be checked then)
MAX_CHECK_FAILURES = 3


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


@database_sync_to_async
def _key_user(token: str) -> KeyUser | None:
    key = AccessKey.find_by_token_with(token, "workspace", active=True)
    return KeyUser(key=key) if key is not None else None


async def authenticate(scope):
    """The caller (a portal user or a KeyUser), or None when the socket must be refused.

    An Authorization header that is present but not a valid AccessKey refuses the socket
    even when a session cookie came along: a client that sends a key means that key.
    """
    header = _header(scope, b"authorization")
    if header is not None:
        parts = header.split()
        if len(parts) != 2 or parts[0] != ACCESS_KEY_KEYWORD:
            return None
        return await _key_user(parts[1])
    user = scope.get("user")
    if user is not None and user.is_authenticated and user.is_active:
        return user
    return None


@database_sync_to_async
def _workspace_ids(user) -> list[str]:
    return [str(pk) for pk in workspaces_for(user).values_list("pk", flat=True)]


def _requested_workspace(scope) -> str | None:
    """The `?workspace=` filter as a canonical UUID string; '' when it is not a UUID."""
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("workspace")
    if not values:
        return None
    try:
        return str(uuid.UUID(values[0]))
    except ValueError:
        return ""


def recheck_seconds() -> float:
    return float(getattr(settings, "LIVE_RECHECK_SECONDS", 10))


@database_sync_to_async
def access_lost(user, session_key: str | None, workspace_ids: list[str]) -> int | None:
    """The close code if `user` may no longer hear `workspace_ids`, else None."""
    if isinstance(user, KeyUser):
        if not AccessKey.objects.filter(pk=user.key.pk, active=True).exists():
            return CLOSE_CREDENTIAL_INVALID
        return None  # a key belongs to one workspace for good
    fresh = get_user_model().objects.filter(pk=user.pk, is_active=True).first()
    if fresh is None:
        return CLOSE_CREDENTIAL_INVALID
    if session_key is not None and not _session_still_signs_in(session_key, fresh):
        return CLOSE_CREDENTIAL_INVALID
    allowed = {str(pk) for pk in workspaces_for(fresh).filter(pk__in=workspace_ids).values_list("pk", flat=True)}
    return None if allowed >= set(workspace_ids) else CLOSE_ACCESS_LOST


def _session_still_signs_in(session_key: str, user) -> bool:
    """Whether the session still signs `user` in, as Django checks it on every request: not
    expired or deleted, the same user, and the same password (its session hash)."""
    data = import_module(settings.SESSION_ENGINE).SessionStore(session_key).load()  # {} if expired/gone
    if str(data.get(SESSION_KEY)) != str(user.pk):
        return False
    stored = data.get(HASH_SESSION_KEY)
    return bool(stored) and constant_time_compare(stored, user.get_session_auth_hash())


def _session_key(scope, user) -> str | None:
    """The session a portal user's socket rides on (None for an access key)."""
    if isinstance(user, KeyUser):
        return None
    session = scope.get("session")
    return getattr(session, "session_key", None)


class LiveConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        user = await authenticate(self.scope)
        if user is None:
            await self.close()
            return
        workspace_ids = await _workspace_ids(user)
        wanted = _requested_workspace(self.scope)
        if wanted is not None:
            if wanted not in workspace_ids:
                await self.close()
                return
            workspace_ids = [wanted]
        self.live_groups = [group_name(ws) for ws in workspace_ids]
        await self._join()
        # In-memory layer: this process must relay changes other processes commit.
        await relay.register(self.channel_name)
        await self.accept()
        self.watch_task = asyncio.ensure_future(self._watch(user, _session_key(self.scope, user), workspace_ids))

    async def _join(self) -> None:
        for group in self.live_groups:
            await self.channel_layer.group_add(group, self.channel_name)

    async def _watch(self, user, session_key: str | None, workspace_ids: list[str]) -> None:
        """While the socket is open: check access every LIVE_RECHECK_SECONDS (closing the
        socket when it is gone) and renew the group membership every hour (channel layers
        forget members after `group_expiry`, a day; a dashboard left open must not go quiet)."""
        loop = asyncio.get_running_loop()
        rejoin_at = loop.time() + REJOIN_SECONDS
        failures = 0
        while True:
            await asyncio.sleep(recheck_seconds())
            try:
                code = await access_lost(user, session_key, workspace_ids)
                failures = 0
                if code is None and loop.time() >= rejoin_at:
                    rejoin_at = loop.time() + REJOIN_SECONDS
                    await self._join()
            except Exception:
                # The database or layer is away for a moment: keep the socket and check
                # again, but not unchecked for long.
                failures += 1
                log.exception("live socket %s: access re-check failed (%d in a row)", self.channel_name, failures)
                if failures < MAX_CHECK_FAILURES:
                    continue
                code = CLOSE_CHECK_FAILED
            if code is not None:
                log.info("live socket %s closed (%s): access withdrawn or not checkable", self.channel_name, code)
                await self.close(code=code)
                return

    async def __call__(self, scope, receive, send):
        try:
            return await super().__call__(scope, receive, send)
        finally:  # however the consumer ends (a failed send included), the checks stop with it
            self._stop_watch()

    def _stop_watch(self) -> None:
        task = getattr(self, "watch_task", None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def disconnect(self, code) -> None:
        self._stop_watch()
        relay.unregister(self.channel_name)
        for group in getattr(self, "live_groups", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None) -> None:
        """Clients have nothing to say on this socket; ignore whatever they send."""

    async def live_batch(self, event: dict) -> None:  # events.BATCH_EVENT_TYPE "live.batch"
        """Unroll one channel-layer event into one websocket frame per live event."""
        for text in event["frames"]:
            await self.send(text_data=text)
