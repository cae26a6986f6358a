"""Websocket routes. Each consumer family adds its patterns here."""

from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import path

from messaging.live.consumer import LiveConsumer

websocket_urlpatterns: list = [
    # Browsers only: the strict AllowedHostsOriginValidator below refuses a foreign Origin.
    path("ws/live/", LiveConsumer.as_asgi()),
]

websocket_application = AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))
