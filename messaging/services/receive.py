"""Incoming messages: the one write path for anything a contact sends us (SPEC §2, §5).

Callers are the inbound webhook view and the phone protocol (ConversationsReport). A
message is stored once per (channel, external_id), with its contact created on first
contact, in a conversation of that channel. It then goes through the chat-ops bot
(messaging.bot: STOP/START/HELP, operator /commands) before anyone else hears about it,
and only then is `message_received` published, on commit.

Bot replies are outgoing messages sent after the incoming one is committed, so a reply
that fails can never take the incoming message down with it.
"""

import logging
from datetime import datetime
from functools import partial

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from messaging import bot
from messaging.errors import ValidationFailed
from messaging.models import (
    Channel,
    Contact,
    Conversation,
    Direction,
    Message,
    MessageEvent,
    MessagingEndpoint,
    Status,
)
from messaging.services.contacts import get_or_create_by_identifier
from messaging.services.identifiers import normalize
from messaging.services.threads import replied_to
from messaging.signals import publish_received

log = logging.getLogger(__name__)


def receive_message(
    channel: Channel,
    sender_key: str,
    sender_value: str,
    body: dict,
    *,
    reference: str = "",
    external_id: str = "",
    conversation: Conversation | None = None,
    endpoint: MessagingEndpoint | None = None,
    at: datetime | None = None,
    actor: str = "",
) -> Message:
    """Store one incoming message and return it (the stored one if this is a repeat).

    Raises ValidationFailed naming `sender.identifierKey`, `sender.identifierValue`,
    `body` or `conversation` for bad input.
    """
    _check_body(body)
    workspace = channel.workspace
    if conversation is not None and conversation.workspace_id != channel.workspace_id:
        raise ValidationFailed.field("conversation", "belongs to another workspace")
    value = normalize(sender_key, sender_value, workspace.default_region, field="sender.identifierValue")
    external_id = (external_id or "").strip()
    at = at or timezone.now()

    with transaction.atomic():
        if external_id:
            existing = _find_incoming(channel, external_id)
            if existing is not None:
                return existing
        contact, _ = get_or_create_by_identifier(workspace, sender_key, value, field="sender.identifierValue")
        # Serialises receives from one contact, so two messages arriving together find
        # (or create) the same conversation and opt-out changes do not overwrite each other.
        contact = Contact.objects.select_for_update().get(pk=contact.pk)
        message = _store(channel, sender_key, value, contact, body, reference, external_id, endpoint, at)
        if message is None:  # lost a race with an identical report; that one wins
            return _find_incoming(channel, external_id)
        MessageEvent.objects.create(message=message, status=Status.DELIVERED, actor=actor[:100], at=at)
        _attach_conversation(message, contact, conversation, endpoint, at)

        outcome = _run_bot(message, contact)
        publish_received([message.id])
        if outcome.replies:
            transaction.on_commit(partial(bot.send_replies, outcome.replies))
    return message


def _check_body(body) -> None:
    if not isinstance(body, dict) or not body:
        raise ValidationFailed.field("body", "must be an object with a type")
    kind = body.get("type")
    if not isinstance(kind, str) or not kind:
        raise ValidationFailed.field("body.type", "is required")
    if kind not in body:
        raise ValidationFailed.field(f"body.{kind}", "is required for this type")


def _find_incoming(channel: Channel, external_id: str) -> Message | None:
    return Message.objects.filter(
        channel=channel, direction=Direction.INCOMING, external_id=external_id
    ).first()


def _store(
    channel: Channel,
    sender_key: str,
    value: str,
    contact: Contact,
    body: dict,
    reference: str,
    external_id: str,
    endpoint: MessagingEndpoint | None,
    at: datetime,
) -> Message | None:
    """Insert the row; None when the unique (channel, external_id) says it already exists."""
    try:
        with transaction.atomic():
            message = Message.objects.create(
                workspace_id=channel.workspace_id,
                channel=channel,
                direction=Direction.INCOMING,
                sender={"identifierKey": sender_key, "identifierValue": value, "contactId": str(contact.id)},
                contact=contact,
                body=body,
                reference=(reference or "")[:200],
                external_id=external_id,
                endpoint=endpoint,
                status=Status.DELIVERED,
                last_status_at=at,
                created_at=at,
                updated_at=at,
            )
    except IntegrityError:
        if external_id:
            return None
        raise
    message.contacts.add(contact)
    return message


def _attach_conversation(
    message: Message,
    contact: Contact,
    conversation: Conversation | None,
    endpoint: MessagingEndpoint | None,
    at: datetime,
) -> None:
    """Put the message in the given conversation, or the contact's latest one on the channel."""
    if conversation is None:
        conversation = (
            Conversation.objects.filter(channel=message.channel, participants=contact, deleted=False)
            .order_by("-updated_at")
            .first()
        )
    if conversation is None:
        conversation = Conversation.objects.create(
            workspace_id=message.workspace_id,
            channel=message.channel,
            endpoint=endpoint,
            created_at=at,
            updated_at=at,
        )
    conversation.participants.add(contact)
    # F() so two messages landing at once both count as unread.
    Conversation.objects.filter(pk=conversation.pk).update(unread_count=F("unread_count") + 1, updated_at=at)
    reply_to = replied_to(at, channel=message.channel, contact=contact)
    Message.objects.filter(pk=message.pk).update(conversation=conversation, reply_to=reply_to)
    message.conversation = conversation
    message.reply_to = reply_to


def _run_bot(message: Message, contact: Contact) -> bot.Outcome:
    """Let the bot act on the message; a bot failure is logged and never loses the message."""
    try:
        with transaction.atomic():
            outcome = bot.handle(message, contact)
            if outcome.handled_as:
                message.meta = {**(message.meta or {}), "bot": outcome.handled_as}
                Message.objects.filter(pk=message.pk).update(meta=message.meta)
            return outcome
    except Exception:
        log.exception("bot failed on incoming message %s", message.id)
        return bot.Outcome()
