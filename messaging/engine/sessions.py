"""A device's session: authentication, connect/disconnect and its reported state.

The consumer calls these (through database_sync_to_async); they are the write path for
MessagingEndpoint's connection fields, and publish `endpoint_state_changed` on commit.
"""

import logging

from django.db import transaction
from django.utils import timezone

from messaging.engine import routing
from messaging.models import Connector, MessagingEndpoint
from messaging.services.dispatch import request_dispatch
from messaging.signals import EndpointState, publish_endpoint_states

log = logging.getLogger(__name__)


def authenticate(token: str) -> MessagingEndpoint | None:
    """The endpoint of an active engine channel whose token this is (constant-time check)."""
    queryset = MessagingEndpoint.objects.select_related("channel").filter(
        channel__connector=Connector.ENGINE, channel__status="active"
    )
    return MessagingEndpoint.find_by_token(token, queryset=queryset)


def _publish(endpoint: MessagingEndpoint) -> None:
    publish_endpoint_states(
        [
            EndpointState(
                workspace_id=endpoint.channel.workspace_id,
                channel_id=endpoint.channel_id,
                endpoint_id=endpoint.id,
                connection_state=endpoint.connection_state if endpoint.connected else "DISCONNECTED",
                send_permission=endpoint.send_permission,
                read_permission=endpoint.read_permission,
                at=timezone.now(),
            )
        ]
    )


def opened(endpoint: MessagingEndpoint, channel_name: str) -> None:
    """The socket is open. The device becomes usable once it reports CONNECTED + ON."""
    now = timezone.now()
    with transaction.atomic():
        MessagingEndpoint.objects.filter(pk=endpoint.pk).update(
            connected=True, channel_name=channel_name, last_seen_at=now
        )
        endpoint.connected, endpoint.channel_name, endpoint.last_seen_at = True, channel_name, now
        _publish(endpoint)


def closed(endpoint: MessagingEndpoint, channel_name: str) -> tuple[int, int]:
    """The socket closed: mark the device gone and re-route what it had not answered.

    Only if this session is still the device's current one — a device that reconnected
    (a new session took over) keeps its state. Returns (requeued, failed).
    """
    now = timezone.now()
    with transaction.atomic():
        gone = MessagingEndpoint.objects.filter(pk=endpoint.pk, channel_name=channel_name).update(
            connected=False, channel_name="", connection_state="DISCONNECTED", last_seen_at=now
        )
        if not gone:
            return 0, 0
        endpoint.refresh_from_db()
        _publish(endpoint)
        moved = routing.reroute_in_flight(endpoint.id)
    if any(moved):
        log.info("device %s disconnected: %d message(s) requeued, %d failed", endpoint.id, *moved)
    return moved


def seen(endpoint: MessagingEndpoint) -> None:
    MessagingEndpoint.objects.filter(pk=endpoint.pk).update(last_seen_at=timezone.now())


def update_state(endpoint: MessagingEndpoint, connection: str, send: str, read: str) -> None:
    """UpdateMessagingEndpointState: store it, tell the dashboard, and when the device can
    now send, wake the messages that were waiting for a device."""
    with transaction.atomic():
        MessagingEndpoint.objects.filter(pk=endpoint.pk).update(
            connection_state=connection, send_permission=send, read_permission=read, last_seen_at=timezone.now()
        )
        endpoint.refresh_from_db()
        _publish(endpoint)
        can_send = connection == "CONNECTED" and send == "ON" and endpoint.connected
        if can_send:  # cheap: request_dispatch is coalesced
            routing.wake_waiting([endpoint.channel_id])
            transaction.on_commit(request_dispatch)
