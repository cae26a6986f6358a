"""What the inbound hook does with a verified request (SPEC §3.7).

Two kinds of body, told apart by the presence of `status`:
- an incoming message: {"sender": {"identifierKey", "identifierValue"},
  "body": {"type": "text", "text": {"text"}}, "reference"} → receive_message();
- a delivery report for an outgoing message of a `webhook` channel:
  {"status": "sent"|"delivered"|"delivery_failed", "messageId" or "reference", "reason"}
  → status.transition(), which never moves a message back (a late `sent` after
  `delivered` changes nothing and is answered with the current status).

Each function validates, calls one service and returns the JSON answer; bad input raises
ValidationFailed naming the field, an unknown message NotFound naming messageId.
"""

import uuid

from messaging.errors import NotFound, ValidationFailed
from messaging.models import Channel, Connector, Direction, IdentifierKey, Message, Status
from messaging.services import status as status_service
from messaging.services.receive import receive_message

HOOK_CONNECTORS = {Connector.SANDBOX, Connector.WEBHOOK}
REPORTABLE = [Status.SENT, Status.DELIVERED, Status.DELIVERY_FAILED]
MAX_TEXT = 10_000
ACTOR = "inbound-hook"


def handle(channel: Channel, webhook_id: str, payload) -> dict:
    if not isinstance(payload, dict):
        raise ValidationFailed.field("body", "must be a JSON object")
    if "status" in payload:
        return report_status(channel, payload)
    return receive(channel, webhook_id, payload)


def _string(payload: dict, field: str, limit: int, required: bool = False) -> str:
    value = payload.get(field, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValidationFailed.field(field, "must be a string")
    if required and not value.strip():
        raise ValidationFailed.field(field, "is required")
    if len(value) > limit:
        raise ValidationFailed.field(field, f"must be at most {limit} characters")
    return value


def receive(channel: Channel, webhook_id: str, payload: dict) -> dict:
    sender = payload.get("sender")
    if not isinstance(sender, dict):
        raise ValidationFailed.field("sender", "is required: an object with identifierKey and identifierValue")
    key = sender.get("identifierKey")
    if key not in IdentifierKey.values:
        raise ValidationFailed.field("sender.identifierKey", f"must be one of {', '.join(IdentifierKey.values)}")
    value = sender.get("identifierValue")
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed.field("sender.identifierValue", "is required")
    body = payload.get("body")
    if not isinstance(body, dict):
        raise ValidationFailed.field("body", 'is required: {"type": "text", "text": {"text": "..."}}')
    if body.get("type") != "text":
        raise ValidationFailed.field("body.type", 'must be "text"')
    block = body.get("text")
    text = block.get("text") if isinstance(block, dict) else None
    if not isinstance(text, str) or not text.strip():
        raise ValidationFailed.field("body.text.text", "is required")
    if len(text) > MAX_TEXT:
        raise ValidationFailed.field("body.text.text", f"must be at most {MAX_TEXT} characters")
    reference = _string(payload, "reference", 200)
    message = receive_message(
        channel,
        key,
        value,
        {"type": "text", "text": {"text": text}},
        reference=reference,
        external_id=webhook_id,
        actor=ACTOR,
    )
    return {"messageId": str(message.id), "direction": message.direction, "status": message.status}


def report_status(channel: Channel, payload: dict) -> dict:
    if channel.connector != Connector.WEBHOOK:
        raise ValidationFailed.field("status", "delivery reports are accepted for webhook channels only")
    new_status = payload.get("status")
    if new_status not in REPORTABLE:
        raise ValidationFailed.field("status", f"must be one of {', '.join(REPORTABLE)}")
    reason = _string(payload, "reason", 500)
    message = _reported_message(channel, payload)
    changed = status_service.transition(message, new_status, reason=reason, actor=ACTOR)
    if not changed:  # late or duplicate: answer with what the message really is now
        message.refresh_from_db(fields=["status", "reason"])
    return {"messageId": str(message.id), "status": message.status, "changed": changed}


def _reported_message(channel: Channel, payload: dict) -> Message:
    outgoing = Message.objects.filter(channel=channel, direction=Direction.OUTGOING)
    raw_id = payload.get("messageId")
    if raw_id not in (None, ""):
        try:
            message_id = uuid.UUID(str(raw_id))
        except ValueError:
            raise ValidationFailed.field("messageId", "must be a UUID") from None
        message = outgoing.filter(id=message_id).first()
        if message is None:
            raise NotFound(
                f"messageId: no outgoing message {message_id} on this channel", {"messageId": ["not found"]}
            )
        return message
    reference = _string(payload, "reference", 200)
    if not reference:
        raise ValidationFailed.field("messageId", "is required (or reference)")
    # A reference may be reused by the client: the most recent message carries it.
    message = outgoing.filter(reference=reference).order_by("-created_at").first()
    if message is None:
        raise NotFound(f"reference: no outgoing message with reference {reference!r} on this channel", {"reference": ["not found"]})
    return message
