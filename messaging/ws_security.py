"""Origin checks for every websocket route (SPEC §3.5, §3.6).

Browsers always send `Origin`, and a page on another site must not be able to open a
socket with the user's session cookie, so browser routes (/ws/live/) require an Origin
that matches ALLOWED_HOSTS — channels' own AllowedHostsOriginValidator, which also
refuses a missing Origin.

Devices (/ws/engine/ phones, /ws/app/ apps) are not browsers and send no Origin; they
authenticate with a token instead. On their paths a missing Origin is allowed, but a
present one is still checked, so a web page cannot use a device route either.

`OriginPolicy` applies the right rule by path in front of the one URLRouter, so a route
added to messaging.routing.websocket_urlpatterns is strict unless its path is listed in
DEVICE_PATHS: forgetting to list a path fails safe.
"""

from channels.security.websocket import AllowedHostsOriginValidator, OriginValidator

DEVICE_PATHS: tuple[str, ...] = ("/ws/engine/", "/ws/app/")


class DeviceOriginValidator(OriginValidator):
    """Like AllowedHostsOriginValidator, but a handshake without Origin is allowed."""

    def valid_origin(self, parsed_origin) -> bool:
        if parsed_origin is None:
            return True
        return self.validate_origin(parsed_origin)


class OriginPolicy:
    """Route-aware Origin validation: lenient-when-absent on device paths, strict elsewhere."""

    def __init__(self, application, device_paths: tuple[str, ...] = DEVICE_PATHS):
        self.application = application
        self.device_paths = device_paths
        self.strict = AllowedHostsOriginValidator(application)
        self.device = DeviceOriginValidator(application, self.strict.allowed_origins)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "websocket":
            raise ValueError("OriginPolicy only handles websocket connections")
        path = scope.get("path", "")
        validator = self.device if any(path.startswith(p) for p in self.device_paths) else self.strict
        return await validator(scope, receive, send)

