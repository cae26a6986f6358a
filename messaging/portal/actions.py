"""The dashboard's writes. Each delegates to the service that owns the state, so the
portal, the API and the chat-ops bot change channels and conversations the same way."""

from django.db import transaction

from messaging.engine import sync
from messaging.models import Channel, Conversation
from messaging.services import dispatch


def set_channel_paused(channel: Channel, paused: bool) -> None:
    with transaction.atomic():
        dispatch.set_paused(channel, paused)


def mark_conversation_read(conversation: Conversation, actor: str = "") -> int:
    """Mark the conversation's incoming messages read, here and on the phone that reported
    them (engine sync sends UpdateMessagesStatus, SPEC §3.5); returns how many changed."""
    with transaction.atomic():
        marked = sync.mark_read(conversation, actor=actor)
        if not marked:
            # Nothing unread left to mark: a stale counter must still drop to zero.
            Conversation.objects.filter(pk=conversation.pk).update(unread_count=0)
    conversation.unread_count = 0
    return marked
