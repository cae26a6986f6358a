"""Conversation sync with phones: UploadConversations → ConversationsReport, and marking
messages read → UpdateMessagesStatus (SPEC §3.5).

Ids reported by a device (conversation ids, message ids) are only unique on that phone —
two phones of one channel can both have a thread "3" — so they are stored namespaced by
the endpoint: `<endpoint id>:<device id>` in Conversation.external_id and
Message.external_id. `device_ref()` builds one, `device_id_of()` gives back the phone's id
for frames sent to it. A report sent twice is stored once (receive_message deduplicates
by (channel, external_id)).
"""

import logging
from collections import defaultdict
from collections.abc import Iterable
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from messaging.engine import codec, pump, routing
from messaging.errors import DomainError
from messaging.models import (
    Channel,
    Connector,
    Conversation,
    Direction,
    EngineRequest,
    Message,
    MessagingEndpoint,
)
from messaging.services.contacts import get_or_create_by_identifier
from messaging.services.receive import receive_message

log = logging.getLogger(__name__)

DEFAULT_SYNC_INTERVAL = 300
REQUEST_TTL = timedelta(minutes=10)  # UploadConversations / UpdateMessagesStatus replies


def device_ref(endpoint_id, device_id: str) -> str:
    return f"{endpoint_id}:{device_id}"


def device_id_of(external_id: str) -> str:
    return external_id.split(":", 1)[1] if ":" in external_id else external_id


def sync_interval(channel: Channel) -> int:
    return routing.setting(channel, "sync_interval_seconds", DEFAULT_SYNC_INTERVAL) or DEFAULT_SYNC_INTERVAL


# --- UploadConversations --------------------------------------------------------------------------


def request_conversation_sync() -> int:
    """Periodic task: ask every connected device with read permission for its unread
    conversations, at most once per its channel's sync_interval_seconds (the last
    UploadConversations request is the "last sync" record). Returns devices asked."""
    now = timezone.now()
    endpoints = list(
        MessagingEndpoint.objects.filter(
            connected=True,
            connection_state="CONNECTED",
            read_permission="ON",
            channel__connector=Connector.ENGINE,
            channel__status="active",
        ).select_related("channel")
    )
    last = dict(
        EngineRequest.objects.filter(action=codec.UPLOAD_CONVERSATIONS, endpoint__in=endpoints)
        .values("endpoint_id")
        .annotate(last=Max("created_at"))
        .values_list("endpoint_id", "last")
    )
    due = [
        e for e in endpoints if last.get(e.id) is None or last[e.id] <= now - timedelta(seconds=sync_interval(e.channel))
    ]
    with transaction.atomic():
        for endpoint in due:
            ask_for_conversations(endpoint, now=now)
    return len(due)


def ask_for_conversations(endpoint: MessagingEndpoint, now=None) -> str:
    """Send one UploadConversations to the device; returns its token."""
    now = now or timezone.now()
    token = codec.new_token()
    frame = codec.upload_conversations(token)
    push = pump.can_push(endpoint.id)
    with transaction.atomic():
        EngineRequest.objects.create(
            token=token, endpoint=endpoint, action=codec.UPLOAD_CONVERSATIONS, detail={"frame": frame},
            created_at=now, sent_at=now if push else None, expires_at=now + REQUEST_TTL,
        )
        if push:
            routing.push_after_commit({endpoint.id: [frame]})
    return token


def conversations_reported(endpoint: MessagingEndpoint, token: str, raw: str) -> int:
    """ConversationsReport: store conversations and their unread messages once each.

    An empty token is an unsolicited report; an unknown or already answered token is
    ignored (logged). A malformed `conversations` string raises codec.FrameError.
    Returns how many messages were stored (new or already known).
    """
    reported = codec.parse_conversations(raw)
    request = None
    if token:
        request = routing.open_request(endpoint, token, codec.UPLOAD_CONVERSATIONS)
        if request is None:
            return 0
    stored = sum(_store_conversation(endpoint, item) for item in reported)
    if request is not None:
        routing.answer(request, f"{routing.SUCCEEDED}: {len(reported)} conversation(s)")
    return stored


def _store_conversation(endpoint: MessagingEndpoint, item: codec.ReportedConversation) -> int:
    channel = endpoint.channel
    conversation = _conversation_for(endpoint, item)
    stored = 0
    for reported in item.messages:
        body = {"type": "text", "text": {"text": reported.text}}
        try:
            message = receive_message(
                channel, "phonenumber", reported.sender, body,
                external_id=device_ref(endpoint.id, reported.id), conversation=conversation,
                endpoint=endpoint, at=reported.created, actor=f"device:{endpoint.id}",
            )
        except DomainError as exc:  # e.g. a sender that is not a phone number
            log.warning("device %s: message %r of conversation %r not stored: %s", endpoint.id, reported.id, item.id, exc)
            continue
        stored += 1
        if not reported.unread and not message.read:
            Message.objects.filter(pk=message.pk).update(read=True)
    _recount_unread([conversation.id])
    return stored


def _conversation_for(endpoint: MessagingEndpoint, item: codec.ReportedConversation) -> Conversation:
    channel = endpoint.channel
    ref = device_ref(endpoint.id, item.id)
    now = timezone.now()
    try:
        conversation, _ = Conversation.objects.get_or_create(
            channel=channel, external_id=ref,
            defaults={"workspace_id": channel.workspace_id, "endpoint": endpoint, "created_at": now, "updated_at": now},
        )
    except IntegrityError:  # a concurrent report created it
        conversation = Conversation.objects.get(channel=channel, external_id=ref)
    for address in item.participants:
        try:
            contact, _ = get_or_create_by_identifier(channel.workspace, "phonenumber", address)
        except DomainError as exc:
            log.warning("device %s: participant %r of conversation %r skipped: %s", endpoint.id, address, item.id, exc)
            continue
        conversation.participants.add(contact)
    return conversation


def _recount_unread(conversation_ids: Iterable) -> None:
    for conversation_id in set(conversation_ids):
        unread = Message.objects.filter(
            conversation_id=conversation_id, direction=Direction.INCOMING, read=False, deleted=False
        ).count()
        Conversation.objects.filter(pk=conversation_id).update(unread_count=unread)


# --- mark read → UpdateMessagesStatus ---------------------------------------------------------------


def mark_read(target: Conversation | Iterable[Message], actor: str = "") -> int:
    """Mark incoming messages read here and on the phone that reported them.

    `target` is a conversation (its unread messages) or messages. The read flag changes
    at once; each conversation that came from a device gets one UpdateMessagesStatus with
    the phone's message ids (sent now if the device is online, else when it reconnects);
    the device's answer is recorded on the EngineRequest. Returns how many
    messages were marked.
    """
    if isinstance(target, Conversation):
        messages = Message.objects.filter(conversation=target, direction=Direction.INCOMING, read=False)
    else:
        messages = Message.objects.filter(id__in=[m.id for m in target], direction=Direction.INCOMING)
    rows = list(messages.values_list("id", "conversation_id", "external_id"))
    if not rows:
        return 0
    now = timezone.now()
    with transaction.atomic():
        Message.objects.filter(id__in=[r[0] for r in rows]).update(read=True, updated_at=now)
        conversation_ids = {r[1] for r in rows if r[1]}
        _recount_unread(conversation_ids)
        frames = defaultdict(list)
        for conversation in Conversation.objects.filter(id__in=conversation_ids, endpoint__isnull=False).select_related(
            "endpoint"
        ):
            prefix = f"{conversation.endpoint_id}:"
            ids = [device_id_of(ext) for _, cid, ext in rows if cid == conversation.id and ext.startswith(prefix)]
            if not ids or not conversation.external_id:
                continue
            token = codec.new_token()
            frame = codec.update_messages_status(token, device_id_of(conversation.external_id), ids)
            # Sent now if the phone is online; else its session's pump sends it on reconnect.
            push = conversation.endpoint.connected and pump.can_push(conversation.endpoint_id)
            EngineRequest.objects.create(
                token=token, endpoint=conversation.endpoint, action=codec.UPDATE_MESSAGES_STATUS,
                conversation=conversation, detail={"read": ids, "actor": actor[:100], "frame": frame},
                created_at=now, sent_at=now if push else None, expires_at=now + REQUEST_TTL,
            )
            if push:
                frames[conversation.endpoint_id].append(frame)
        routing.push_after_commit(dict(frames))
    return len(rows)


def status_replied(endpoint: MessagingEndpoint, token: str, code: str = "", text: str = "") -> bool:
    """UpdateMessagesStatusSucceeded (no code) / Failed: recorded on the request."""
    request = routing.open_request(endpoint, token, codec.UPDATE_MESSAGES_STATUS)
    if request is None:
        return False
    outcome = routing.SUCCEEDED if not code else (f"{code}: {text}" if text else code)
    return routing.answer(request, outcome)
