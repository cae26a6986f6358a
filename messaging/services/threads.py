"""Which message an incoming one answers.

An incoming message is taken as the reply to the latest outgoing message of the same
thread sent before it (the seed-004 `originDocumentId`). A "thread" is whatever the caller
filters by: a conversation, or a channel + contact for SMS sent through the APIs.
"""

from datetime import datetime

from messaging.models import Direction, Message


def replied_to(at: datetime, **thread) -> Message | None:
    return (
        Message.objects.filter(direction=Direction.OUTGOING, deleted=False, created_at__lte=at, **thread)
        .order_by("-created_at", "-id")
        .only("id")
        .first()
    )
