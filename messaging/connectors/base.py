"""The connector contract: the dispatcher hands a connector a batch of claimed messages
of one channel and records what comes back through messaging.services.status.

A connector returns one SendResult per message:
- status "sent" / "delivered": done (the sandbox may report delivered straight away);
- status "sending_failed": permanent failure with a reason;
- status "retry": a transient failure; the dispatcher requeues it with backoff while
  attempts remain, else fails it with the reason;
- status "pending": handed to something asynchronous (a phone over /ws/engine/) that
  reports the outcome later; the message stays `processing` until then or until its
  claim times out and the sweeper returns it;
- status "wait": nothing could take it now (e.g. no device online); it goes back to
  `accepted` with the reason and does not use up an attempt.
"""

from abc import ABC, abstractmethod
from dataclasses import dataclass

from messaging.models import Channel, Message


class ConnectorError(Exception):
    """Raised by transports; `permanent` failures are not retried."""

    def __init__(self, message: str, permanent: bool = False):
        super().__init__(message)
        self.message = message
        self.permanent = permanent


@dataclass
class SendResult:
    message_id: object
    status: str
    reason: str = ""


class BaseConnector(ABC):
    slug = ""
    # Which settings keys createchannel / the API accept, with their types (for validation).
    settings_schema: dict[str, type] = {}

    def __init__(self, channel: Channel):
        self.channel = channel

    @abstractmethod
    def send_batch(self, messages: list[Message]) -> list[SendResult]:
        """One SendResult per message (see the module docstring)."""

    @classmethod
    def validate_settings(cls, values: dict) -> dict:
        """Coerce and check channel settings; raise ValueError naming the key."""
        out = dict(values)
        for key, kind in cls.settings_schema.items():
            if key in out and out[key] is not None and not isinstance(out[key], kind):
                try:
                    out[key] = kind(out[key])
                except (TypeError, ValueError):
                    raise ValueError(f"settings.{key} must be of type {kind.__name__}") from None
        return out
