"""Events other parts listen to, always delivered after the data is committed.

`message_status_changed` carries a list of StatusChange; listeners (webhook subscriptions,
the live websocket, 002 notify URLs) connect in their apps' ready(). A listener that fails
is logged and never breaks the write that caused it.
"""

import logging
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.dispatch import Signal

log = logging.getLogger(__name__)

message_status_changed = Signal()  # kwargs: changes: list[StatusChange]
message_received = Signal()  # kwargs: message_ids: list
endpoint_state_changed = Signal()  # kwargs: states: list[EndpointState]


@dataclass(frozen=True)
class StatusChange:
    message_id: object
    workspace_id: object
    channel_id: object
    status: str
    reason: str
    at: datetime
    # Whether the message may have a seed-002 notify target (a service or a notify URL):
    # False lets messaging.notify skip its query; None when the writer did not read it.
    notify: bool | None = None


@dataclass(frozen=True)
class EndpointState:
    """A device's connection/permission state (the live `endpoint.state` event)."""

    workspace_id: object
    channel_id: object
    endpoint_id: object
    connection_state: str  # CONNECTED / DISCONNECTED (seed 000 ConnectionState)
    send_permission: str  # ON / OFF
    read_permission: str  # ON / OFF
    at: datetime


def _send_robust(signal: Signal, **kwargs) -> None:
    for receiver, result in signal.send_robust(sender=None, **kwargs):
        if isinstance(result, Exception):
            log.error("listener %r of %s failed: %r", receiver, signal, result, exc_info=result)


def publish_status_changes(changes: list[StatusChange], **context) -> None:
    """`message_status_changed` once the transaction commits. `context` goes to the
    listeners too: what the writer already read for them (`webhook_subscriptions`, see
    messaging.services.webhooks.on_status_changed)."""
    if changes:
        transaction.on_commit(lambda: _send_robust(message_status_changed, changes=changes, **context))


def publish_received(message_ids: list) -> None:
    if message_ids:
        transaction.on_commit(lambda: _send_robust(message_received, message_ids=message_ids))


def publish_endpoint_states(states: list[EndpointState]) -> None:
    if states:
        transaction.on_commit(lambda: _send_robust(endpoint_state_changed, states=states))
