"""App users' inboxes (seed 003 user message API, SPEC §3.3): the one write path.

An app user's inbox is the set of conversations whose `app_users` holds that user — each
such conversation belongs to exactly one user, and every message in it is that user's
copy, so scoping is one join and two users never share (or change) each other's rows.
Direction is the user's own point of view: `incoming` rows were written to them,
`outgoing` rows by them.

- user to user (`send` to a username, or to the msisdn of a user): the sender's outgoing
  row and the recipient's incoming copy (`origin` = the outgoing row) are written in one
  transaction; landing in the recipient's inbox is delivery, so the outgoing row goes
  `accepted` → `delivered` through services/status.py at once.
- to a phone number that is no user: an outgoing SMS through services/send.py on the
  workspace's SMS channel, with the usual status tracking; the sender needs an msisdn.
- app-channel messages (seed 002 appmessaging, the `app` connector): `deliver_to_app_user`
  writes the user's incoming copy; the origin is `sent`, and `delivered` when the app
  reports it (`report`), or when the user reads it.

Reads change `read` flags through messaging.engine.sync.mark_read (which also tells a phone
that reported the message). Locked messages cannot be updated or deleted (`Locked`, seed
code 97). Every change bumps `updated_at`, and deletions are soft, so `sync` can hand a
device the changes and deletions since its last sync. New messages are pushed to the
user's /ws/app/ sockets on commit (messaging.connectors.app.push).
"""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from messaging.connectors.app import push
from messaging.engine import sync as engine_sync
from messaging.errors import DomainError, Forbidden, NotFound, ValidationFailed
from messaging.models import (
    AppAuthToken,
    AppDevice,
    AppUser,
    Channel,
    Contact,
    Conversation,
    Direction,
    Message,
    MessageEvent,
    Service,
    Status,
    Workspace,
)
from messaging.services import passwords
from messaging.services import send as send_service
from messaging.services import status as st
from messaging.services.contacts import get_or_create_by_identifier
from messaging.services.identifiers import normalize
from messaging.services.threads import replied_to

MAX_TEXT = 10_000
DEFAULT_LIMIT = 50
MAX_LIMIT = 200
MAX_IDS = 1000
SEARCH_TYPES = ("text", "image", "file", "html", "appmessaging", "notification", "interactive")


# --- errors the dialect maps to its own codes -------------------------------------------------


class InvalidToken(DomainError):
    """Missing, unknown or expired auth token (seed code 100)."""

    code = "InvalidToken"


class Denied(Forbidden):
    """Not allowed: wrong credentials, blocked account, another user's object (code 97)."""

    code = "Denied"


class Locked(Denied):
    """A locked message may be neither changed nor deleted (code 97)."""

    code = "Locked"


class UnknownDevice(NotFound):
    """The device id is not one of the user's devices (code 105)."""

    code = "UnknownDevice"


class MsisdnRequired(Forbidden):
    """The operation needs the user to have an msisdn (code 113)."""

    code = "MsisdnRequired"


# --- authentication --------------------------------------------------------------------------


def service_for_key(api_key: str) -> Service | None:
    if not isinstance(api_key, str) or not api_key:
        return None
    return Service.find_by_token_with(api_key, "workspace")


@dataclass
class Login:
    user: AppUser
    token: str
    device: AppDevice | None


def login(service: Service, username: str, password: str, device_id: str = "") -> Login:
    """Check the user's password and issue an auth token (bound to the device, if given)."""
    user = AppUser.objects.filter(workspace_id=service.workspace_id, username=username).first()
    if user is None:
        # Counted, limited and hashed like a wrong password: nothing tells the name is unknown.
        passwords.refuse_unknown(service.workspace_id, username, password)
        raise Denied("Wrong username or password.")
    if not passwords.verify(user, password):
        raise Denied("Wrong username or password.")
    _check_account(user)
    now = timezone.now()
    with transaction.atomic():
        device = None
        if device_id:
            device, _ = AppDevice.objects.get_or_create(app_user=user, device_id=device_id)
        token = AppAuthToken(
            app_user=user,
            device=device,
            created_at=now,
            expires_at=now + timedelta(seconds=settings.USER_API_TOKEN_TTL_SECONDS),
        )
        plaintext = token.set_token()
        token.save()
    return Login(user=user, token=plaintext, device=device)


def user_for_token(token: str, workspace_id=None) -> AppUser:
    """The app user of a valid auth token (of `workspace_id`'s users when given)."""
    if not isinstance(token, str) or not token:
        raise InvalidToken("The auth token is missing.")
    tokens = AppAuthToken.objects.select_related("app_user", "app_user__workspace")
    if workspace_id is not None:
        tokens = tokens.filter(app_user__workspace_id=workspace_id)
    found = AppAuthToken.find_by_token(token, tokens)
    if found is None:
        raise InvalidToken("The auth token is invalid.")
    if found.expires_at is not None and found.expires_at <= timezone.now():
        raise InvalidToken("The auth token has expired; log in again.")
    _check_account(found.app_user)
    return found.app_user


def _check_account(user: AppUser) -> None:
    if user.blocked:
        raise Denied("The account is blocked.")
    if not user.active:
        raise Denied("The account is not activated.")


# --- how a message and a conversation look to their owner ---------------------------------------


def epoch(at: datetime | None) -> int | None:
    return int(at.timestamp()) if at is not None else None


def _identity(data: dict) -> str:
    return str(data.get("identifierValue") or data.get("name") or "")


def message_dict(message: Message, owner: AppUser) -> dict:
    """The seed-003 message: {messageId, conversationId, sender, recipient, text, direction,
    read, locked, timestamp}; sender/recipient are usernames or msisdns."""
    receivers = (message.receiver or {}).get("contacts") or []
    recipient = _identity(receivers[0]) if receivers and isinstance(receivers[0], dict) else ""
    sender = _identity(message.sender or {})
    if message.direction == Direction.OUTGOING:
        sender = sender or owner.username
    else:
        recipient = recipient or owner.username
    return {
        "messageId": str(message.id),
        "conversationId": str(message.conversation_id) if message.conversation_id else None,
        "sender": sender,
        "recipient": recipient,
        "text": message.text,
        "direction": "out" if message.direction == Direction.OUTGOING else "in",
        "read": bool(message.read),
        "locked": bool(message.locked),
        "timestamp": epoch(message.created_at),
    }


def message_frame(message: Message, owner: AppUser, kind: str = "message") -> dict:
    """A /ws/app/ frame; a body richer than text (a seed-002 appmessaging block with its
    thread, notification and attachment) comes along whole as `body`."""
    frame = {"type": kind, "message": message_dict(message, owner)}
    if (message.body or {}).get("type") not in (None, "text"):
        frame["body"] = message.body
    return frame


# --- scoping --------------------------------------------------------------------------------------


def conversations_of(user: AppUser) -> QuerySet:
    return Conversation.objects.filter(workspace_id=user.workspace_id, app_users=user, deleted=False)


def messages_of(user: AppUser) -> QuerySet:
    return Message.objects.filter(
        workspace_id=user.workspace_id, conversation__app_users=user, conversation__deleted=False, deleted=False
    )


def parse_id(value, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value).strip())
    except (TypeError, ValueError, AttributeError):
        raise ValidationFailed.field(field, "is not a valid id") from None


def get_conversation(user: AppUser, conversation_id, field: str = "conversationId") -> Conversation:
    """One of the user's conversations; anything else (another user's, unknown) is Denied."""
    pk = parse_id(conversation_id, field)
    conversation = conversations_of(user).filter(pk=pk).first()
    if conversation is None:
        raise Denied(f"{field}: no conversation {pk} of this user.")
    return conversation


def get_messages(user: AppUser, message_ids, field: str = "messageIds", lock: bool = False) -> list[Message]:
    """All the given messages, each the user's; one foreign or unknown id denies them all."""
    ids = [parse_id(value, f"{field}[{index}]") for index, value in enumerate(message_ids)]
    qs = messages_of(user).filter(pk__in=set(ids))
    if lock:
        qs = qs.select_for_update(of=("self",))
    found = {m.id: m for m in qs}
    missing = [str(pk) for pk in ids if pk not in found]
    if missing:
        raise Denied(f"{field}: no message {', '.join(missing[:5])} of this user.")
    return [found[pk] for pk in dict.fromkeys(ids)]


def get_message(user: AppUser, message_id, field: str = "messageId", lock: bool = False) -> Message:
    pk = parse_id(message_id, field)
    return get_messages(user, [pk], field=field, lock=lock)[0]


# --- conversations ----------------------------------------------------------------------------------


@dataclass
class ConversationView:
    conversation: Conversation
    participants: list[dict]
    last_message: Message | None
    unread: int


def list_conversations(user: AppUser, offset: int = 0, limit: int = DEFAULT_LIMIT) -> list[ConversationView]:
    """The user's conversations, most recently active first."""
    last = Message.objects.filter(conversation=OuterRef("pk"), deleted=False).order_by("-created_at", "-id")
    unread = Count("messages", filter=Q(messages__direction=Direction.INCOMING, messages__read=False,
                                         messages__deleted=False))
    rows = list(
        conversations_of(user)
        .select_related("channel")
        .prefetch_related("participants__identifiers")
        .annotate(last_id=Subquery(last.values("id")[:1]), unread=unread)
        .order_by("-updated_at", "-id")[offset : offset + limit]
    )
    last_messages = Message.objects.in_bulk([c.last_id for c in rows if c.last_id])
    people = _participants(user.workspace_id, rows)
    return [ConversationView(c, people[c.id], last_messages.get(c.last_id), c.unread) for c in rows]


def conversation_dict(view: ConversationView, owner: AppUser) -> dict:
    return {
        "conversationId": str(view.conversation.id),
        "participants": view.participants,
        "lastMessage": message_dict(view.last_message, owner) if view.last_message else None,
        "unreadCount": view.unread,
        "updatedAt": epoch(view.conversation.updated_at),
    }


def _participants(workspace_id, conversations: list[Conversation]) -> dict:
    """{conversation id: [{username, msisdn}]}: a user peer shows their username and msisdn,
    a phone peer its number; an app-channel conversation shows the channel's name."""
    idents = {
        c.id: [{i.key: i.value for i in contact.identifiers.all()} for contact in c.participants.all()]
        for c in conversations
    }
    usernames = {i["userid"] for rows in idents.values() for i in rows if "userid" in i}
    msisdns = dict(
        AppUser.objects.filter(workspace_id=workspace_id, username__in=usernames).values_list("username", "msisdn")
    )
    out = {}
    for c in conversations:
        people = []
        for i in idents[c.id]:
            username = i.get("userid") or i.get("customerid") or ""
            people.append({"username": username, "msisdn": msisdns.get(username) or i.get("phonenumber") or ""})
        if not people and c.channel_id:
            people.append({"username": c.channel.name, "msisdn": ""})
        out[c.id] = people
    return out


def read_conversation(user: AppUser, conversation_id) -> int:
    """Mark the conversation's incoming messages read (a phone that reported them is told)."""
    conversation = get_conversation(user, conversation_id)
    with transaction.atomic():
        unread = list(messages_of(user).filter(conversation=conversation, direction=Direction.INCOMING, read=False))
        return _mark_read(user, unread)


def delete_conversations(user: AppUser, conversation_ids, field: str = "conversationIds") -> int:
    """Delete conversations and all their messages; a locked message in any of them → Locked,
    and nothing is deleted."""
    ids = [parse_id(value, f"{field}[{index}]") for index, value in enumerate(conversation_ids)]
    now = timezone.now()
    with transaction.atomic():
        conversations = list(conversations_of(user).filter(pk__in=set(ids)).select_for_update())
        found = {c.id for c in conversations}
        missing = [str(pk) for pk in ids if pk not in found]
        if missing:
            raise Denied(f"{field}: no conversation {', '.join(missing[:5])} of this user.")
        locked = list(
            messages_of(user).filter(conversation_id__in=found, locked=True).values_list("id", flat=True)[:5]
        )
        if locked:
            raise Locked(f"These messages are locked and cannot be deleted: {', '.join(str(pk) for pk in locked)}.")
        Message.objects.filter(conversation_id__in=found, deleted=False).update(deleted=True, updated_at=now)
        Conversation.objects.filter(pk__in=found).update(deleted=True, unread_count=0, updated_at=now)
    return len(found)


# --- reading messages -------------------------------------------------------------------------------


def conversation_messages(user: AppUser, conversation_id, offset: int = 0, limit: int = DEFAULT_LIMIT) -> list[Message]:
    conversation = get_conversation(user, conversation_id)
    return list(messages_of(user).filter(conversation=conversation).order_by("-created_at", "-id")[offset : offset + limit])


def search(user: AppUser, query: str, limit: int = DEFAULT_LIMIT) -> list[Message]:
    """The user's messages whose text contains `query` (case-insensitive), newest first."""
    match = Q()
    for kind in SEARCH_TYPES:
        match |= Q(**{f"body__{kind}__text__icontains": query})
    return list(messages_of(user).filter(match).order_by("-created_at", "-id")[:limit])


@dataclass
class SyncResult:
    messages: list[Message]
    deleted_ids: list[str]
    at: datetime
    has_more: bool = False


def sync_page_size() -> int:
    return int(getattr(settings, "USER_API_SYNC_PAGE_SIZE", 500))


def sync(user: AppUser, device_id: str, since: datetime | None = None) -> SyncResult:
    """What changed in the user's inbox for this device: messages created or updated, and
    ids deleted, since `since` (else the device's last sync); then remembers this sync.

    The first sync of a device (no last sync, no `since`) gets every live message and no
    deletions. `syncTimestamp` is the sync's time in whole seconds; a `since` given back
    is inclusive, so a change in that same second is repeated rather than missed.

    Changes come oldest first, at most USER_API_SYNC_PAGE_SIZE of them, but a page always
    ends on a whole second: the rest of the last change's second comes along (so a page
    may run past the size). When more remain, `has_more` is set, `at` is the next whole
    second and the device's sync is remembered as just before it, so the next sync, with
    or without `since` = syncTimestamp (inclusive), starts exactly there: nothing is
    missed and a page never repeats forever. A client that ignores `hasMore` still gets
    everything, one sync later.
    """
    device = AppDevice.objects.filter(app_user=user, device_id=device_id).first()
    if device is None:
        raise UnknownDevice(f"deviceId: '{device_id}' is not a device of this user; log in with it first.")
    now = timezone.now()
    cutoff_q = Q()
    if since is not None:
        cutoff_q = Q(updated_at__gte=since)
    elif device.last_sync_at is not None:
        cutoff_q = Q(updated_at__gt=device.last_sync_at)
    first = since is None and device.last_sync_at is None
    rows = (
        Message.objects.filter(workspace_id=user.workspace_id, conversation__app_users=user, updated_at__lte=now)
        .filter(cutoff_q)
        .select_related("conversation")
        .order_by("updated_at", "id")
    )
    size = sync_page_size()
    changed = list(rows[:size])
    at, synced_to, has_more = now, now, False
    if len(changed) == size:
        last = changed[-1]
        next_second = last.updated_at.replace(microsecond=0) + timedelta(seconds=1)
        # The rest of the last change's second, whole (ties included).
        changed += rows.filter(updated_at__lt=next_second).filter(
            Q(updated_at__gt=last.updated_at) | Q(updated_at=last.updated_at, id__gt=last.id)
        )
        has_more = rows.filter(updated_at__gte=next_second).exists()
        if has_more:
            at, synced_to = next_second, next_second - timedelta(microseconds=1)
    live = [m for m in changed if not (m.deleted or m.conversation.deleted)]
    gone = [] if first else [str(m.id) for m in changed if m.deleted or m.conversation.deleted]
    AppDevice.objects.filter(pk=device.pk).update(last_sync_at=synced_to)
    return SyncResult(messages=live, deleted_ids=gone, at=at, has_more=has_more)


# --- writing messages ---------------------------------------------------------------------------------


@dataclass
class Peer:
    """Who a user writes to (or hears from): another app user, or a phone number."""

    contact: Contact
    key: str  # identifierKey of `value`: userid or phonenumber
    value: str  # username, or E.164 number
    user: AppUser | None = None


def resolve_peer(workspace: Workspace, value, field: str) -> Peer:
    """A username of the workspace, an msisdn of one of its users, or another phone number."""
    text = _text(value, field, 320)
    user = AppUser.objects.filter(workspace=workspace, username=text).first()
    if user is None:
        try:
            number = normalize("phonenumber", text, workspace.default_region, field=field)
        except ValidationFailed:
            raise ValidationFailed.field(field, f"'{text}' is neither a user of this workspace nor a phone number") from None
        user = AppUser.objects.filter(workspace=workspace, msisdn=number).first()
        if user is None:
            contact, _ = get_or_create_by_identifier(workspace, "phonenumber", number, field=field)
            return Peer(contact=contact, key="phonenumber", value=number)
    contact, _ = get_or_create_by_identifier(workspace, "userid", user.username, field=field)
    return Peer(contact=contact, key="userid", value=user.username, user=user)


def insert(user: AppUser, sender, text, at: datetime | None = None) -> Message:
    """Store an incoming message for the user from `sender` (a username or an msisdn)."""
    text = _text(text, "text", MAX_TEXT)
    now = timezone.now()
    with transaction.atomic():
        peer = resolve_peer(user.workspace, sender, "sender")
        _lock_users([user])
        channel = _sms_channel_or_none(user.workspace) if peer.key == "phonenumber" else None
        conversation = _conversation_with(user, peer.contact, channel, now)
        message = _store_incoming(
            user, conversation, sender=_who(peer.key, peer.value, peer.contact), body=_text_body(text),
            contact=peer.contact, at=at or now, now=now, actor=f"appuser:{user.id}",
        )
    push.push_after_commit({user.id: [message_frame(message, user)]})
    return message


def send(user: AppUser, service: Service, recipient, text) -> Message:
    """Send from the user: to another user's inbox at once, else as SMS to the number."""
    text = _text(text, "text", MAX_TEXT)
    # One transaction, so a refused send (no msisdn, no SMS channel) leaves no contact behind.
    with transaction.atomic():
        peer = resolve_peer(user.workspace, recipient, "recipient")
        if peer.user is not None:
            return _send_to_user(user, service, peer, text)
        return _send_sms(user, service, peer, text)


def _send_to_user(user: AppUser, service: Service, peer: Peer, text: str) -> Message:
    recipient = peer.user
    now = timezone.now()
    actor = f"appuser:{user.id}"
    with transaction.atomic():
        me, _ = get_or_create_by_identifier(user.workspace, "userid", user.username)
        _lock_users([user, recipient])
        own = _conversation_with(user, peer.contact, None, now)
        outgoing = Message.objects.create(
            workspace_id=user.workspace_id, direction=Direction.OUTGOING, sender=_who("userid", user.username, me),
            receiver={"contacts": [_who("userid", recipient.username, peer.contact)]}, contact=peer.contact,
            body=_text_body(text), service=service, conversation=own, status=Status.ACCEPTED,
            last_status_at=now, created_at=now, updated_at=now,
        )
        outgoing.contacts.add(peer.contact)
        MessageEvent.objects.create(message=outgoing, status=Status.ACCEPTED, actor=actor, at=now)
        theirs = _conversation_with(recipient, me, None, now) if recipient.id != user.id else own
        copy = _store_incoming(
            recipient, theirs, sender=_who("userid", user.username, me), body=outgoing.body, contact=me,
            at=now, now=now, actor=actor, origin=outgoing,
        )
        # In the recipient's inbox now: that is delivery for a user-to-user message.
        st.transition(outgoing, Status.DELIVERED, reason="In the recipient's inbox.", actor=actor, at=now)
        outgoing.updated_at = now
    push.push_after_commit({recipient.id: [message_frame(copy, recipient)]})
    push.push_after_commit({user.id: [message_frame(outgoing, user)]})
    return outgoing


def _send_sms(user: AppUser, service: Service, peer: Peer, text: str) -> Message:
    if not user.msisdn:
        raise MsisdnRequired("To send to a phone number the user must have an msisdn associated.")
    channel = sms_channel(service)
    now = timezone.now()
    request = {
        "receiver": {"contacts": [{"identifierKey": "phonenumber", "identifierValue": peer.value}]},
        "body": _text_body(text),
        "sender": {**_who("userid", user.username), "msisdn": user.msisdn, "appUserId": user.id},
    }
    with transaction.atomic():
        _lock_users([user])
        conversation = _conversation_with(user, peer.contact, channel, now)
        if conversation.channel_id is None:  # inserted before any SMS: replies should land here
            Conversation.objects.filter(pk=conversation.pk).update(channel=channel)
        try:
            message = send_service.accept_message(
                user.workspace, channel, request, actor=f"appuser:{user.id}", service=service, conversation=conversation
            )
        except ValidationFailed as exc:
            raise _renamed(exc) from None
    push.push_after_commit({user.id: [message_frame(message, user)]})
    return message


def update(user: AppUser, message_id, text=None, read: bool | None = None) -> Message:
    """Change a message's text and/or read flag; a locked message → Locked, unchanged."""
    if text is not None:
        text = _text(text, "text", MAX_TEXT)
    now = timezone.now()
    with transaction.atomic():
        message = get_message(user, message_id, lock=True)
        if message.locked:
            raise Locked(f"Message {message.id} is locked; unlock it before changing it.")
        fields = {"updated_at": now}
        if text is not None:
            fields["body"] = _with_text(message.body, text)
        if read is False or (read is True and message.direction == Direction.OUTGOING):
            fields["read"] = read
        Message.objects.filter(pk=message.pk).update(**fields)
        if read is True and message.direction == Direction.INCOMING and not message.read:
            _mark_read(user, [message])
        elif read is False and message.direction == Direction.INCOMING:
            _recount([message.conversation_id])
    message.refresh_from_db()
    return message


def delete_messages(user: AppUser, message_ids, field: str = "messageIds") -> int:
    """Soft-delete the messages (sync reports them); any locked one → Locked, none deleted."""
    now = timezone.now()
    with transaction.atomic():
        messages = get_messages(user, message_ids, field=field, lock=True)
        locked = [str(m.id) for m in messages if m.locked]
        if locked:
            raise Locked(f"These messages are locked and cannot be deleted: {', '.join(locked[:5])}.")
        Message.objects.filter(pk__in=[m.id for m in messages]).update(deleted=True, updated_at=now)
        _recount({m.conversation_id for m in messages})
    return len(messages)


def set_locked(user: AppUser, message_ids, locked: bool, field: str = "messageIds") -> int:
    """Lock or unlock; returns how many messages this call changed."""
    now = timezone.now()
    with transaction.atomic():
        messages = get_messages(user, message_ids, field=field, lock=True)
        return Message.objects.filter(pk__in=[m.id for m in messages]).exclude(locked=locked).update(
            locked=locked, updated_at=now
        )


# --- the app's reports and app-channel deliveries ------------------------------------------------------


def report(user: AppUser, kind: str, message_id) -> Message:
    """The app says it got (`delivered`) or showed (`read`) one of the user's incoming
    messages. The message it was copied from moves to `delivered` through services/status
    (its sender's live events and notify URLs follow from there); `read` also marks it read."""
    if kind not in ("delivered", "read"):
        raise ValidationFailed.field("type", "must be delivered or read")
    with transaction.atomic():
        message = get_message(user, message_id)
        if message.direction != Direction.INCOMING:
            raise ValidationFailed.field("messageId", "only messages the user received can be reported")
        if kind == "read":
            _mark_read(user, [message])
        else:
            _deliver_origins(user, [message], read=False)
    message.refresh_from_db()
    return message


def deliver_to_app_user(origin: Message) -> tuple[str, str]:
    """The `app` connector's send: copy an app-channel message into the inbox of the user
    its receiver names (`userid` or `customerid` = an AppUser's username). Returns the
    (status, reason) for the connector's SendResult; "sent" also when already copied."""
    receivers = (origin.receiver or {}).get("contacts") or []
    entry = receivers[0] if receivers and isinstance(receivers[0], dict) else {}
    key, username = entry.get("identifierKey"), str(entry.get("identifierValue") or "")
    if key not in ("userid", "customerid") or not username:
        return Status.SENDING_FAILED, "app: the receiver needs a userid or customerid naming an app user"
    user = AppUser.objects.filter(workspace_id=origin.workspace_id, username=username).first()
    if user is None:
        return Status.SENDING_FAILED, f"app: no app user '{username}' in this workspace"
    if user.blocked or not user.active:
        return Status.SENDING_FAILED, f"app: app user '{username}' is {'blocked' if user.blocked else 'not activated'}"
    now = timezone.now()
    with transaction.atomic():
        _lock_users([user])
        if Message.objects.filter(origin=origin, conversation__app_users=user).exists():
            return Status.SENT, ""  # a retried batch: the copy is already in the inbox
        conversation = _channel_conversation(user, origin.channel, now, thread=_thread_of(origin))
        name = _identity(origin.sender or {}) or (origin.channel.name if origin.channel_id else "")
        copy = _store_incoming(
            user, conversation, sender={"name": name}, body=origin.body, contact=None, at=now, now=now,
            actor="connector:app", origin=origin,
        )
    push.push_after_commit({user.id: [message_frame(copy, user)]})
    return Status.SENT, ""


def on_message_received(message_ids: list, **kwargs) -> int:
    """Listener (messaging.listeners): an incoming message that receive_message put in an app
    user's conversation (an SMS reply to a number the user wrote to) goes to their sockets."""
    frames: dict[int, list[dict]] = {}
    rows = Message.objects.filter(id__in=message_ids, conversation__app_users__isnull=False).select_related(
        "conversation"
    )
    for message in rows:
        for owner in message.conversation.app_users.all():
            frames.setdefault(owner.id, []).append(message_frame(message, owner))
    return push.push_now(frames) if frames else 0


# --- helpers ------------------------------------------------------------------------------------------


def sms_channel(service: Service) -> Channel:
    """The channel SMS goes out on: the service's `channel_map["sms"]`, else the workspace's
    only active SMS channel."""
    channels = Channel.objects.filter(workspace_id=service.workspace_id, platform="sms", status="active")
    mapped = (service.channel_map or {}).get("sms")
    if mapped:
        try:
            channel = channels.filter(pk=uuid.UUID(str(mapped))).first()
        except ValueError:
            channel = None
        if channel is None:
            raise Denied("The service's SMS channel (channel_map.sms) does not exist or is inactive.")
        return channel
    found = list(channels[:2])
    if len(found) != 1:
        problem = "has no active SMS channel" if not found else "has several SMS channels; set the service's channel_map.sms"
        raise Denied(f"Cannot send to a phone number: the workspace {problem}.")
    return found[0]


def _sms_channel_or_none(workspace: Workspace) -> Channel | None:
    found = list(Channel.objects.filter(workspace=workspace, platform="sms", status="active")[:2])
    return found[0] if len(found) == 1 else None


def _lock_users(users: list[AppUser]) -> None:
    """Serialise inbox writes per user (in id order, so two users writing to each other
    cannot deadlock): two sends racing to open a conversation end up in one."""
    list(AppUser.objects.select_for_update().filter(pk__in=sorted({u.id for u in users})).order_by("pk"))


def _conversation_with(owner: AppUser, contact: Contact, channel: Channel | None, at: datetime) -> Conversation:
    """The owner's open conversation with this contact, created on first use."""
    conversation = (
        conversations_of(owner).filter(participants=contact).order_by("-updated_at", "-id").first()
    )
    if conversation is None:
        conversation = Conversation.objects.create(
            workspace_id=owner.workspace_id, channel=channel, created_at=at, updated_at=at
        )
        conversation.app_users.add(owner)
        conversation.participants.add(contact)
    return conversation


def _thread_of(message: Message) -> str:
    """The seed-002 `thread_id` an appmessaging message belongs to ('' for none)."""
    app = (message.body or {}).get("appmessaging") if isinstance(message.body, dict) else None
    thread = app.get("thread_id") if isinstance(app, dict) else None
    return str(thread)[:200] if thread else ""


def _channel_conversation(owner: AppUser, channel: Channel | None, at: datetime, thread: str = "") -> Conversation:
    """The owner's conversation with an app channel (no contact: the business speaks): one
    per 002 `thread_id`, and one for the channel's messages without a thread."""
    conversation = (
        conversations_of(owner)
        .filter(channel=channel, participants__isnull=True, thread=thread)
        .order_by("-updated_at")
        .first()
    )
    if conversation is None:
        conversation = Conversation.objects.create(
            workspace_id=owner.workspace_id, channel=channel, thread=thread, created_at=at, updated_at=at
        )
        conversation.app_users.add(owner)
    return conversation


def _store_incoming(
    owner: AppUser,
    conversation: Conversation,
    *,
    sender: dict,
    body: dict,
    contact: Contact | None,
    at: datetime,
    now: datetime,
    actor: str,
    origin: Message | None = None,
) -> Message:
    message = Message.objects.create(
        workspace_id=owner.workspace_id,
        direction=Direction.INCOMING,
        sender=sender,
        receiver={"contacts": [_who("userid", owner.username)]},
        contact=contact,
        body=body,
        conversation=conversation,
        origin=origin,
        reply_to=replied_to(at, conversation=conversation),
        status=Status.DELIVERED,
        last_status_at=at,
        created_at=at,
        updated_at=now,  # `now`, so a sync finds a message inserted with an old timestamp
    )
    if contact is not None:
        message.contacts.add(contact)
    MessageEvent.objects.create(message=message, status=Status.DELIVERED, actor=actor[:100], at=at)
    Conversation.objects.filter(pk=conversation.pk).update(unread_count=F("unread_count") + 1, updated_at=now)
    return message


def _mark_read(user: AppUser, messages: list[Message]) -> int:
    """Read flags through engine.sync.mark_read (a phone that reported a message is told),
    then the origins: delivered, and read (the sender's read receipt)."""
    incoming = [m for m in messages if m.direction == Direction.INCOMING]
    if not incoming:
        return 0
    count = engine_sync.mark_read(incoming, actor=f"appuser:{user.id}")
    _deliver_origins(user, incoming, read=True)
    return count


def _deliver_origins(user: AppUser, copies: list[Message], read: bool) -> None:
    origin_ids = [m.origin_id for m in copies if m.origin_id]
    if not origin_ids:
        return
    now = timezone.now()
    actor = f"appuser:{user.id}"
    st.transition_many(origin_ids, Status.DELIVERED, reason="Reported by the app.", actor=actor, at=now)
    if not read:
        return
    Message.objects.filter(pk__in=origin_ids, read=False).update(read=True, updated_at=now)
    frames: dict[int, list[dict]] = {}
    for origin in Message.objects.filter(pk__in=origin_ids, conversation__isnull=False).select_related("conversation"):
        for owner in origin.conversation.app_users.all():
            frames.setdefault(owner.id, []).append(message_frame(origin, owner, kind="message.updated"))
    push.push_after_commit(frames)


def _recount(conversation_ids) -> None:
    for conversation_id in {c for c in conversation_ids if c}:
        unread = Message.objects.filter(
            conversation_id=conversation_id, direction=Direction.INCOMING, read=False, deleted=False
        ).count()
        Conversation.objects.filter(pk=conversation_id).update(unread_count=unread)


def _who(key: str, value: str, contact: Contact | None = None) -> dict:
    out = {"identifierKey": key, "identifierValue": value}
    if contact is not None:
        out["id"] = str(contact.id)
    return out


def _text_body(text: str) -> dict:
    return {"type": "text", "text": {"text": text}}


def _with_text(body: dict, text: str) -> dict:
    """The body with its text replaced, keeping its type and other parts."""
    body = dict(body or {})
    kind = body.get("type")
    block = body.get(kind) if kind else None
    if not isinstance(block, dict):
        return _text_body(text)
    return {**body, kind: {**block, "text": text}}


def _text(value, field: str, max_length: int) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ValidationFailed.field(field, "is required")
    if not isinstance(value, str):
        raise ValidationFailed.field(field, "must be a string")
    value = value.strip() if field != "text" else value
    if len(value) > max_length:
        raise ValidationFailed.field(field, f"must be at most {max_length} characters")
    return value


def _renamed(exc: ValidationFailed) -> ValidationFailed:
    """The send path's field names (receiver.contacts[0]..., body.text.text) in this API's."""
    def rename(field: str) -> str:
        if field.startswith("receiver"):
            return "recipient"
        if field.startswith("body"):
            return "text"
        return field

    details = {}
    for field, problems in exc.details.items():
        details.setdefault(rename(field), []).extend(problems)
    message = "; ".join(f"{f}: {', '.join(p)}" for f, p in details.items()) or exc.message
    return ValidationFailed(message, details)


def from_epoch(value, field: str) -> datetime:
    """Epoch seconds (a number or digits) as an aware datetime."""
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationFailed.field(field, "must be a time in epoch seconds")
    try:
        return datetime.fromtimestamp(value, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise ValidationFailed.field(field, "is out of range") from None
