"""What the dashboard shows, as plain dicts: one snapshot feeds both the HTML and the JSON.

Every function takes a workspace id the caller was already checked against, and costs a
bounded number of queries that do not grow with the table size (limits, and the
Message(workspace, status, last_status_at) index for the counters).
"""

import json
from datetime import datetime, timedelta

from django.db.models import Count, OuterRef, Subquery
from django.utils import timezone

from messaging.models import (
    PENDING_STATUSES,
    Channel,
    Connector,
    Conversation,
    Direction,
    EngineRequest,
    Message,
    MessagingEndpoint,
    Status,
)

FEED_SIZE = 50
CONVERSATIONS_SIZE = 20
TEXT_EXCERPT = 160
COUNTER_WINDOW = timedelta(hours=1)
# "sent in the last hour" counts every message that left us in that hour, whatever
# happened next (a sent message that was then delivered or failed delivery still went out).
SENT_STATUSES = [Status.SENT, Status.DELIVERED, Status.DELIVERY_FAILED]
FAILED_STATUSES = [Status.SENDING_FAILED, Status.DELIVERY_FAILED, Status.EXPIRED]
SEND_ACTION = "SendMessage"  # seed 000 action of an engine send request


def iso(at: datetime | None) -> str | None:
    return at.isoformat().replace("+00:00", "Z") if at else None


def _text(body) -> str:
    body = body if isinstance(body, dict) else {}
    block = body.get(body.get("type"))
    text = (block.get("text") or "") if isinstance(block, dict) else ""
    return text if len(text) <= TEXT_EXCERPT else text[: TEXT_EXCERPT - 1] + "…"


def _identity(party) -> str:
    """How a sender or receiver reads on screen: its identifier, else a name or id."""
    if not isinstance(party, dict):
        return ""
    contacts = party.get("contacts")
    if isinstance(contacts, list) and contacts:
        first = _identity(contacts[0]) if isinstance(contacts[0], dict) else ""
        return first + (f" +{len(contacts) - 1}" if len(contacts) > 1 else "")
    for key in ("identifierValue", "username", "msisdn", "name", "id"):
        if party.get(key):
            return str(party[key])
    return ""


def status_label(status: str) -> str:
    return status.replace("_", " ")


def channel_state(paused: bool, status: str) -> str:
    return "inactive" if status != "active" else "paused" if paused else "running"


def counters(workspace_id, now: datetime | None = None) -> dict:
    since = (now or timezone.now()) - COUNTER_WINDOW
    outgoing = Message.objects.filter(workspace_id=workspace_id, direction=Direction.OUTGOING)

    def count(statuses, recent: bool) -> int:
        qs = outgoing.filter(status__in=statuses)
        return (qs.filter(last_status_at__gte=since) if recent else qs).count()

    return {
        "queued": count(PENDING_STATUSES, recent=False),  # waiting right now, however old
        "sent": count(SENT_STATUSES, recent=True),
        "delivered": count([Status.DELIVERED], recent=True),
        "failed": count(FAILED_STATUSES, recent=True),
    }


def message_row(m: dict, channel_names: dict) -> dict:
    incoming = m["direction"] == Direction.INCOMING
    return {
        "id": str(m["id"]),
        "direction": m["direction"],
        "channelId": str(m["channel_id"]) if m["channel_id"] else None,
        "channel": channel_names.get(str(m["channel_id"]), ""),
        "peer": _identity(m["sender"] if incoming else m["receiver"]),
        "text": _text(m["body"]),
        "directionLabel": "In" if incoming else "Out",
        "status": m["status"],
        "statusLabel": status_label(m["status"]),
        "reason": m["reason"],
        "createdAt": iso(m["created_at"]),
        "lastStatusAt": iso(m["last_status_at"]),
    }


def recent_messages(workspace_id, channel_names: dict, limit: int = FEED_SIZE) -> list[dict]:
    rows = (
        Message.objects.filter(workspace_id=workspace_id, deleted=False)
        .order_by("-created_at", "-id")
        .values(
            "id",
            "direction",
            "channel_id",
            "sender",
            "receiver",
            "body",
            "status",
            "reason",
            "created_at",
            "last_status_at",
        )[:limit]
    )
    return [message_row(m, channel_names) for m in rows]


def channels(workspace_id) -> list[dict]:
    rows = Channel.objects.filter(workspace_id=workspace_id).order_by("name")
    return [
        {
            "id": str(c.id),
            "name": c.name,
            "platform": c.platform,
            "connector": c.connector,
            "kind": f"{c.platform} · {c.connector}",
            "status": c.status,
            "paused": c.paused,
            "state": channel_state(c.paused, c.status),
        }
        for c in rows.only("id", "name", "platform", "connector", "status", "paused")
    ]


def devices(workspace_id, now: datetime | None = None) -> list[dict]:
    """Phones of the workspace's engine channels, with their open send requests."""
    now = now or timezone.now()
    endpoints = list(
        MessagingEndpoint.objects.filter(
            channel__workspace_id=workspace_id, channel__connector=Connector.ENGINE
        )
        .select_related("channel")
        .order_by("channel__name", "name")
    )
    in_flight = dict(
        EngineRequest.objects.filter(
            endpoint__in=endpoints, action=SEND_ACTION, answered_at=None, outcome="", expires_at__gt=now
        )
        .values("endpoint_id")
        .annotate(n=Count("id"))
        .values_list("endpoint_id", "n")
    )
    return [
        {
            "id": str(e.id),
            "name": e.name,
            "channelId": str(e.channel_id),
            "channel": e.channel.name,
            "connectionState": e.connection_state,
            "sendPermission": e.send_permission,
            "readPermission": e.read_permission,
            "lastSeenAt": iso(e.last_seen_at),
            "inFlight": in_flight.get(e.id, 0),
        }
        for e in endpoints
    ]


def conversations(workspace_id, limit: int = CONVERSATIONS_SIZE) -> list[dict]:
    """Recent conversations, unread first, with their participants and last message."""
    last = Message.objects.filter(conversation=OuterRef("pk"), deleted=False).order_by("-created_at", "-id")
    rows = list(
        Conversation.objects.filter(workspace_id=workspace_id, deleted=False)
        .select_related("channel")
        .prefetch_related("participants__identifiers", "app_users")
        .annotate(last_body=Subquery(last.values("body")[:1]))
        .order_by("-updated_at")[:limit]
    )
    rows.sort(key=lambda c: c.unread_count == 0)  # stable: unread first, each part newest first
    return [
        {
            "id": str(c.id),
            "channelId": str(c.channel_id) if c.channel_id else None,
            "channel": c.channel.name if c.channel else "",
            "participants": _participants(c),
            "unreadCount": c.unread_count,
            "lastText": _text(_decode(c.last_body)),
            "updatedAt": iso(c.updated_at),
        }
        for c in rows
    ]


def _participants(conversation: Conversation) -> str:
    names = []
    for contact in conversation.participants.all():
        identifiers = [i.value for i in contact.identifiers.all()]
        names.append(contact.display_name or (identifiers[0] if identifiers else str(contact.id)[:8]))
    names += [u.username for u in conversation.app_users.all()]
    return ", ".join(names) or "—"


def _decode(value):
    """A JSON column read through a subquery comes back as text on some databases."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return {}
    return value


def snapshot(workspace_id) -> dict:
    """Everything the dashboard shows for one workspace."""
    now = timezone.now()
    channel_list = channels(workspace_id)
    names = {c["id"]: c["name"] for c in channel_list}
    return {
        "counters": counters(workspace_id, now),
        "messages": recent_messages(workspace_id, names),
        "devices": devices(workspace_id, now),
        "conversations": conversations(workspace_id),
        "channels": channel_list,
        "channelNames": names,
        "at": iso(now),
    }
