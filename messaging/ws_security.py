"""Origin checks for every websocket route (SPEC §3.5, §3.6).

Browsers always send `Origin`, and a page on another site must not be able to open a
socket with the user's session cookie, so browser routes (/ws/live/) require an Origin
that matches ALLOWED_HOSTS — channels' own AllowedHostsOriginValidator, which also
refuses a missing Origin.

Devices (/ws/engine/ phones, /ws/app/ apps) are not browsers and send no Origin; they
authenticate with a token instead. On their paths a missing Origin is allowed, but a
present one is still checked, so a web page cannot use a device route either.

The live socket (/ws/live/) also serves scripts, which authenticate with an
`Authorization: AccessKey` header and send no Origin. The cross-site risk is a page
riding on the user's session cookie, and a key header is something a foreign page cannot
add on its own (browsers' WebSocket API sets no custom headers) — and when it is present
the consumer authenticates by the key alone, never by the cookie (messaging.live.consumer).
So on KEY_PATHS a missing Origin is allowed when the handshake carries an AccessKey
header; a session-cookie handshake still needs a matching Origin, and a present foreign
Origin is refused either way.

`OriginPolicy` applies the right rule by path in front of the one URLRouter, so a route
added to messaging.routing.websocket_urlpatterns is strict unless its path is listed in
DEVICE_PATHS or KEY_PATHS: forgetting to list a path fails safe.
"""

from channels.security.websocket import AllowedHostsOriginValidator, OriginValidator

DEVICE_PATHS: tuple[str, ...] = ("/ws/engine/", "/ws/app/")
KEY_PATHS: tuple[str, ...] = ("/ws/live/",)


def _uses_access_key(scope) -> bool:
    """Does the handshake authenticate with `Authorization: AccessKey ...`? The first
    Authorization header decides, as in messaging.live.consumer.authenticate."""
    for name, value in scope.get("headers", []):
        if name.lower() == b"authorization":
            return value.split(None, 1)[:1] == [b"AccessKey"]
    return False


class DeviceOriginValidator(OriginValidator):
    """Like AllowedHostsOriginValidator, but a handshake without Origin is allowed."""

    def valid_origin(self, parsed_origin) -> bool:
        if parsed_origin is None:
            return True
        return self.validate_origin(parsed_origin)


class OriginPolicy:
    """Route-aware Origin validation: lenient-when-absent on device paths (and on key
    paths for AccessKey handshakes), strict elsewhere."""

    def __init__(
        self,
        application,
        device_paths: tuple[str, ...] = DEVICE_PATHS,
        key_paths: tuple[str, ...] = KEY_PATHS,
    ):
        self.application = application
        self.device_paths = device_paths
        self.key_paths = key_paths
        self.strict = AllowedHostsOriginValidator(application)
        self.device = DeviceOriginValidator(application, self.strict.allowed_origins)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "websocket":
            raise ValueError("OriginPolicy only handles websocket connections")
        path = scope.get("path", "")
        lenient = any(path.startswith(p) for p in self.device_paths) or (
            any(path.startswith(p) for p in self.key_paths) and _uses_access_key(scope)
        )
        validator = self.device if lenient else self.strict
        return await validator(scope, receive, send)
