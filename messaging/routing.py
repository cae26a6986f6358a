"""Websocket routes. Each consumer family adds its patterns here.

Origin checks (messaging.ws_security.OriginPolicy): every route requires an Origin that
matches ALLOWED_HOSTS, except the device paths listed in ws_security.DEVICE_PATHS
(/ws/engine/, /ws/app/), where a missing Origin is allowed and a present one is checked,
and /ws/live/ (ws_security.KEY_PATHS), where the same holds for AccessKey handshakes only.
"""

from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from django.urls import path

from messaging.dialects.user_messages.consumer import UserAppConsumer
from messaging.engine.consumer import EngineConsumer
from messaging.live.consumer import LiveConsumer
from messaging.ws_security import OriginPolicy

websocket_urlpatterns: list = [
    # Dashboards (session cookie: matching Origin required) and scripts (AccessKey header:
    # Origin optional, a present one checked) — see ws_security.KEY_PATHS.
    path("ws/live/", LiveConsumer.as_asgi()),
    # Phones (seed 000): no Origin needed, authenticated by the endpoint token.
    path("ws/engine/", EngineConsumer.as_asgi()),
    # App users (seed 003 auth token): new messages live, delivery/read reports back.
    path("ws/app/", UserAppConsumer.as_asgi()),
]

websocket_application = OriginPolicy(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))
