"""ASGI entry point: HTTP through Django, websockets through Channels (daphne serves both)."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

from portal.handler import get_asgi_application  # noqa: E402

django_asgi_app = get_asgi_application()  # first: sets up Django before consumers import models

from channels.routing import ProtocolTypeRouter  # noqa: E402

from messaging.routing import websocket_application  # noqa: E402

application = ProtocolTypeRouter({"http": django_asgi_app, "websocket": websocket_application})
