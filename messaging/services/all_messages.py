"""All messages of an app user since a time (seed 004, SPEC §3.4): the legacy polling API.

A client polls with `since` (epoch seconds, exclusive) and repeats with
`since = newestMessageTimestamp` while `hasMoreMessages` is true. For that loop to see
every message exactly once, pages end on a second boundary:

- A page holds the oldest messages with timestamp > since, at most `page_size` of them,
  incoming and outgoing together, ordered by (created_at, id).
- Tie rule: when the page-size limit falls inside a second, that whole second is added
  to the page, so a page may exceed `page_size` by the rest of its last second (a single
  second holding more than `page_size` messages comes back whole, in one page).
- Messages of the current, still-open seconds are held back (`ALL_MESSAGES_SETTLE_SECONDS`,
  default 2): a message is stamped before its transaction commits, so a poll could
  otherwise answer "newest = S" before another message of second S becomes visible, and
  the next poll (since = S) would skip it.

Cost per page: one query, an index range seek (`message_conv_created`) in each of the
user's conversations, so it grows with this user's messages after `since`, never with
the workspace's; only when a page ends inside a second, one query for the rest of that
second and one `exists()` for `hasMoreMessages`. Senders/recipients come from the
message rows; a conversation lookup is made only for rows that do not name them.

A message "of the user" is a message, not deleted, in a non-deleted conversation the
user belongs to (Conversation.app_users): `incoming` rows are what they received,
`outgoing` rows what they sent (the 003 dialect keeps one row per user and direction:
the sender's outgoing row and the recipient's inbox copy, Message.origin).
"""

import math
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from messaging.errors import Forbidden, Inactive, NotFound, ValidationFailed
from messaging.models import AppUser, Conversation, Direction, Message, Service
from messaging.services import passwords

DEFAULT_PAGE_SIZE = 100
DEFAULT_SETTLE_SECONDS = 2
# datetime's range ends in year 9999; a larger `since` cannot name a message.
MAX_SINCE = 253402300798

# --- domain errors of this service (mapped to the seed's statuses in
# messaging/dialects/all_messages/errors.py) -------------------------------------------------


class MissingParameter(ValidationFailed):
    code = "MissingParameter"


class AmbiguousUser(ValidationFailed):
    """The username exists in several workspaces and no apiKey says which one."""

    code = "AmbiguousUser"


class UnknownUser(NotFound):
    code = "UnknownUser"


class AuthenticationFailed(Forbidden):
    code = "AuthenticationFailed"


class AccountBlocked(Forbidden):
    code = "AccountBlocked"


class AccountNotActivated(Inactive):
    code = "AccountNotActivated"


# --- results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PolledMessage:
    document_id: str
    text: str
    timestamp: int
    incoming: bool
    sender: str
    recipient: str
    origin_document_id: str | None


@dataclass(frozen=True)
class MessagesPage:
    messages: list[PolledMessage]
    newest_timestamp: int
    has_more: bool

    @property
    def incoming(self) -> list[PolledMessage]:
        return [m for m in self.messages if m.incoming]

    @property
    def outgoing(self) -> list[PolledMessage]:
        return [m for m in self.messages if not m.incoming]


# --- authentication --------------------------------------------------------------------------


def authenticate(username: str, password: str, api_key: str = "") -> AppUser:
    """The app user these credentials open; raises one of the errors above.

    The password is checked before the account state, so blocked/not-activated is only
    revealed to someone who knows the password. Wrong passwords are limited per user
    (messaging.services.passwords): beyond the limit every attempt is refused with
    TooManyAttempts (status 4, account blocked) until the window ends.
    """
    user = _find_user(username, api_key)
    if not passwords.verify(user, password):
        raise AuthenticationFailed(
            "password: does not match the user's password", {"password": ["does not match"]}
        )
    if user.blocked:
        raise AccountBlocked(f"account '{username}' is blocked")
    if not user.active:
        raise AccountNotActivated(f"account '{username}' is not activated")
    return user


def _find_user(username: str, api_key: str) -> AppUser:
    users = AppUser.objects.select_related("workspace").filter(username=username)
    if api_key:
        service = Service.find_by_token(api_key)
        if service is None or not service.active:
            raise AuthenticationFailed(
                "apiKey: not a valid, active service key", {"apiKey": ["is not valid"]}
            )
        users = users.filter(workspace_id=service.workspace_id)
    found = list(users[:2])
    if not found:
        raise UnknownUser(f"username: user '{username}' does not exist", {"username": ["does not exist"]})
    if len(found) > 1:
        raise AmbiguousUser(
            f"username: '{username}' exists in several workspaces; pass the apiKey of your service to choose one",
            {"username": ["is ambiguous without apiKey"]},
        )
    return found[0]


# --- the page --------------------------------------------------------------------------------


def messages_page(user: AppUser, since: int, page_size: int | None = None) -> MessagesPage:
    """The next page of the user's messages with timestamp > since (see the module doc)."""
    size = page_size or getattr(settings, "ALL_MESSAGES_PAGE_SIZE", DEFAULT_PAGE_SIZE)
    visible = _messages_of(user).filter(created_at__lt=_settled_before())
    rows = list(visible.filter(created_at__gte=_second(since + 1)).order_by("created_at", "id")[: size + 1])
    has_more = len(rows) > size
    if has_more:
        last = epoch(rows[size - 1].created_at)
        if epoch(rows[size].created_at) == last:
            rows = _finish_second(visible, rows[:size], last)
            has_more = visible.filter(created_at__gte=_second(last + 1)).exists()
        else:
            rows = rows[:size]
    polled = _render(user, rows)
    newest = polled[-1].timestamp if polled else since
    return MessagesPage(messages=polled, newest_timestamp=newest, has_more=has_more)


def _messages_of(user: AppUser) -> QuerySet[Message]:
    # Scoped by membership alone (an app user's conversations are all in their workspace):
    # a workspace_id condition, here or in the subquery, makes the planner walk the
    # workspace's index (cost growing with everyone's traffic) instead of the user's
    # memberships and then each conversation's range in `message_conv_created`.
    conversations = Conversation.objects.filter(app_users=user, deleted=False).values("id")
    return Message.objects.filter(conversation__in=conversations, deleted=False)


def _finish_second(visible: QuerySet[Message], head: list[Message], second: int) -> list[Message]:
    """`head` without its last second, plus every message of that second."""
    whole_second = visible.filter(created_at__gte=_second(second), created_at__lt=_second(second + 1))
    return [m for m in head if epoch(m.created_at) < second] + list(whole_second.order_by("created_at", "id"))


def _settled_before() -> datetime:
    settle = getattr(settings, "ALL_MESSAGES_SETTLE_SECONDS", DEFAULT_SETTLE_SECONDS)
    return _second(epoch(timezone.now()) - settle + 1)


def epoch(moment: datetime) -> int:
    """Whole epoch seconds (floor), the seed's timestamp."""
    return math.floor(moment.timestamp())


def _second(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


# --- addresses -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Party:
    """Who a message row names: an app user by username (`userid`), or an address as is."""

    value: str
    username: bool = False


def _render(user: AppUser, rows: list[Message]) -> list[PolledMessage]:
    me = address_of_user(user)
    peers = {m.id: _party(m.sender if _incoming(m) else m.receiver) for m in rows}
    missing = {m.conversation_id for m in rows if peers[m.id] is None}
    fallback = _conversation_peers(user, missing) if missing else {}
    usernames = {p.value for p in peers.values() if p is not None and p.username}
    msisdns = _msisdns(user.workspace_id, usernames) if usernames else {}
    out = []
    for m in rows:
        party = peers[m.id]
        if party is None:
            peer = fallback.get(m.conversation_id, "")
        elif party.username:
            peer = as_msisdn(msisdns.get(party.value) or "") or party.value
        else:
            peer = as_msisdn(party.value)
        incoming = _incoming(m)
        out.append(
            PolledMessage(
                document_id=str(m.id),
                text=m.text,
                timestamp=epoch(m.created_at),
                incoming=incoming,
                sender=peer if incoming else me,
                recipient=me if incoming else peer,
                origin_document_id=str(m.reply_to_id) if m.reply_to_id else None,
            )
        )
    return out


def _incoming(message: Message) -> bool:
    return message.direction == Direction.INCOMING


def address_of_user(user: AppUser) -> str:
    """A user's number in the legacy API: the msisdn, or the username without one."""
    return as_msisdn(user.msisdn) if user.msisdn else user.username


def as_msisdn(value: str) -> str:
    """E.164 '+61555879987' → '61555879987', the seed's msisdn form; anything else as is."""
    return value[1:] if value.startswith("+") and value[1:].isdigit() else value


def _party(data: object) -> _Party | None:
    """The party a sender/receiver field names, None if it names none.

    Shapes stored by the dialects: {"identifierKey", "identifierValue"} (a contact; key
    `userid` is an app user's username), {"contacts": [...]} (receivers), {"msisdn"} and
    {"name"} (an app channel speaking as the business).
    """
    if not isinstance(data, dict):
        return None
    contacts = data.get("contacts")
    if isinstance(contacts, list) and contacts:
        return _party(contacts[0])
    value = data.get("identifierValue")
    if isinstance(value, str) and value:
        return _Party(value, username=data.get("identifierKey") == "userid")
    for key in ("msisdn", "username", "name"):
        value = data.get(key)
        if isinstance(value, str) and value:
            return _Party(value, username=key == "username")
    return None


def _msisdns(workspace_id, usernames: set[str]) -> dict[str, str]:
    """{username: msisdn} of the workspace's app users among `usernames`."""
    rows = AppUser.objects.filter(workspace_id=workspace_id, username__in=usernames).values_list(
        "username", "msisdn"
    )
    return dict(rows)


def _conversation_peers(user: AppUser, conversation_ids: set) -> dict:
    """For rows that name nobody: the other party of the conversation — another app user,
    else a contact's number (a `userid` contact being an app user's username)."""
    peers: dict = {}
    conversations = Conversation.objects.filter(id__in=conversation_ids).prefetch_related(
        "app_users", "participants__identifiers"
    )
    pending: dict = {}
    for conversation in conversations:
        others = [u for u in conversation.app_users.all() if u.id != user.id]
        if others:
            peers[conversation.id] = address_of_user(others[0])
            continue
        identifiers = [i for c in conversation.participants.all() for i in c.identifiers.all()]
        by_key = {i.key: i.value for i in identifiers}
        if "phonenumber" in by_key:
            peers[conversation.id] = as_msisdn(by_key["phonenumber"])
        elif "userid" in by_key:
            pending[conversation.id] = by_key["userid"]
        elif identifiers:
            peers[conversation.id] = identifiers[0].value
    msisdns = _msisdns(user.workspace_id, set(pending.values())) if pending else {}
    for conversation_id, username in pending.items():
        peers[conversation_id] = as_msisdn(msisdns.get(username) or "") or username
    return peers
