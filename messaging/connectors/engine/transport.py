"""The `engine` connector: SMS through the channel's phones over /ws/engine/ (seed 000).

Sending is asynchronous: send_batch hands each message to a connected device and
returns "pending"; the device's SendMessageSucceeded/Failed (or a timeout) decides.
The device protocol itself lives in messaging/engine/.
"""

from messaging.connectors.base import BaseConnector, SendResult
from messaging.engine import routing
from messaging.models import Message


class EngineConnector(BaseConnector):
    slug = "engine"
    settings_schema = {
        "rate_limit_per_minute": int,  # per device; unset = unlimited
        "send_timeout_seconds": int,  # unanswered SendMessage → re-routed (default 60)
        "sync_interval_seconds": int,  # UploadConversations period (default 300)
        "max_attempts": int,  # default DISPATCH_MAX_ATTEMPTS
    }

    def send_batch(self, messages: list[Message]) -> list[SendResult]:
        return routing.send_messages(self.channel, messages)

    @classmethod
    def validate_settings(cls, values: dict) -> dict:
        out = super().validate_settings(values)
        for key in cls.settings_schema:
            if key in out and out[key] is not None and out[key] < 1:
                raise ValueError(f"settings.{key} must be at least 1")
        return out
