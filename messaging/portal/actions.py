"""The dashboard's writes. Each delegates to the service that owns the state, so the
portal, the API and the chat-ops bot change channels and conversations the same way."""

import importlib
import logging

from django.db import transaction
from django.utils import timezone

from messaging.models import Channel, Conversation, Direction, Message
from messaging.services import dispatch

log = logging.getLogger(__name__)


def set_channel_paused(channel: Channel, paused: bool) -> None:
    with transaction.atomic():
        dispatch.set_paused(channel, paused)


def mark_conversation_read(conversation: Conversation, actor: str = "") -> int:
    """Mark the conversation's incoming messages read; returns how many changed.

    The engine's sync service also tells the phone the messages were read (SPEC §3.5);
    where it is not installed, only our copy is marked.
    """
    engine_mark_read = _engine_mark_read()
    if engine_mark_read is not None:
        return engine_mark_read(conversation, actor=actor)
    now = timezone.now()
    with transaction.atomic():
        changed = Message.objects.filter(
            conversation=conversation, direction=Direction.INCOMING, read=False, deleted=False
        ).update(read=True, updated_at=now)
        Conversation.objects.filter(pk=conversation.pk).update(unread_count=0)
    conversation.unread_count = 0
    return changed


def _engine_mark_read():
    try:
        module = importlib.import_module("messaging.engine.sync")
    except ImportError:
        return None
    return getattr(module, "mark_read", None)
