"""The envelope codec of the engine device protocol (seed 000): the one module that builds
and validates every frame, used by the server consumer and by `simulate_device`.

A frame is one JSON text message:

    {"header": {"version": "4.0", "messageType": "Publish", "id": "<unique>",
                "messageDescription": {"topic": "Messaging", "action": "<Action>"}},
     "payload": {...}}

`decode()` refuses (FrameError with a reason) anything that is not exactly that shape:
invalid JSON, wrong version / messageType / topic, an action unknown in the expected
direction, a missing or non-string payload field, a value outside the seed's enums, or a
frame over MAX_FRAME_BYTES. Extra payload fields are tolerated (forward compatibility).

Three payload fields are themselves JSON *strings* (the seed says "String in JSON format"):
SendMessage.recipients, UpdateMessagesStatus.status and ConversationsReport.conversations.
Helpers here build and parse them too.
"""

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.conf import settings

VERSION = "4.0"
MESSAGE_TYPE = "Publish"
TOPIC = "Messaging"

# Generous for a ConversationsReport of many unread messages, small enough that one device
# cannot make the server parse megabytes. ENGINE_MAX_FRAME_BYTES overrides it.
DEFAULT_MAX_FRAME_BYTES = 512 * 1024

CONNECTION_STATES = ("CONNECTED", "DISCONNECTED")
PERMISSION_STATES = ("ON", "OFF")
ERROR_CODES = ("GENERIC_FAILURE", "NO_CONNECTIVITY", "NO_PERMISSION")
PHONE_ADDRESS = "PhoneNumberAddress"

# Server → device
SEND_MESSAGE = "SendMessage"
UPDATE_MESSAGES_STATUS = "UpdateMessagesStatus"
UPLOAD_CONVERSATIONS = "UploadConversations"
# Device → server
SEND_MESSAGE_SUCCEEDED = "SendMessageSucceeded"
SEND_MESSAGE_FAILED = "SendMessageFailed"
UPDATE_MESSAGES_STATUS_SUCCEEDED = "UpdateMessagesStatusSucceeded"
UPDATE_MESSAGES_STATUS_FAILED = "UpdateMessagesStatusFailed"
UPDATE_MESSAGING_ENDPOINT_STATE = "UpdateMessagingEndpointState"
CONVERSATIONS_REPORT = "ConversationsReport"


@dataclass(frozen=True)
class Spec:
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    enums: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Required fields that may be the empty string (an unsolicited report has no token).
    may_be_empty: tuple[str, ...] = ()


TO_DEVICE: dict[str, Spec] = {
    SEND_MESSAGE: Spec(("token", "message", "recipients")),
    UPDATE_MESSAGES_STATUS: Spec(("token", "conversationId", "status")),
    UPLOAD_CONVERSATIONS: Spec(("token",)),
}
FROM_DEVICE: dict[str, Spec] = {
    SEND_MESSAGE_SUCCEEDED: Spec(("token",)),
    SEND_MESSAGE_FAILED: Spec(("token", "code"), ("message",), {"code": ERROR_CODES}),
    UPDATE_MESSAGES_STATUS_SUCCEEDED: Spec(("token",)),
    UPDATE_MESSAGES_STATUS_FAILED: Spec(("token", "code"), ("message",), {"code": ERROR_CODES}),
    UPDATE_MESSAGING_ENDPOINT_STATE: Spec(
        ("connectionState", "sendPermission", "readPermission"),
        enums={
            "connectionState": CONNECTION_STATES,
            "sendPermission": PERMISSION_STATES,
            "readPermission": PERMISSION_STATES,
        },
    ),
    CONVERSATIONS_REPORT: Spec(("token", "conversations"), may_be_empty=("token",)),
}
ALL_ACTIONS = {**TO_DEVICE, **FROM_DEVICE}


class FrameError(ValueError):
    """A frame that is not a valid seed-000 envelope; `reason` says why."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Frame:
    action: str
    payload: dict
    id: str


def max_frame_bytes() -> int:
    return int(getattr(settings, "ENGINE_MAX_FRAME_BYTES", DEFAULT_MAX_FRAME_BYTES))


def new_id() -> str:
    return str(uuid.uuid4())


def new_token() -> str:
    """A request token: a correlation id, not a credential (replies are also checked
    against the device that received the request)."""
    return uuid.uuid4().hex


# --- envelopes -----------------------------------------------------------------------------


def encode(action: str, payload: dict, frame_id: str | None = None) -> str:
    """Build one frame; raises FrameError if the payload does not fit the action."""
    spec = ALL_ACTIONS.get(action)
    if spec is None:
        raise FrameError(f"unknown action {action!r}")
    _check_payload(action, spec, payload)
    frame = {
        "header": {
            "version": VERSION,
            "messageType": MESSAGE_TYPE,
            "id": frame_id or new_id(),
            "messageDescription": {"topic": TOPIC, "action": action},
        },
        "payload": payload,
    }
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False)


def decode(data: str | bytes, expect: dict[str, Spec] = FROM_DEVICE) -> Frame:
    """Parse and validate one frame of the direction `expect` (FROM_DEVICE or TO_DEVICE)."""
    size = len(data) if isinstance(data, bytes) else len(data.encode("utf-8", "surrogatepass"))
    limit = max_frame_bytes()
    if size > limit:
        raise FrameError(f"frame of {size} bytes is over the {limit} byte limit")
    try:
        frame = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):  # deep nesting is bad JSON too
        raise FrameError("invalid JSON") from None
    if not isinstance(frame, dict):
        raise FrameError("frame is not a JSON object")
    header = frame.get("header")
    if not isinstance(header, dict):
        raise FrameError("header missing")
    _expect(header, "version", VERSION)
    _expect(header, "messageType", MESSAGE_TYPE)
    frame_id = header.get("id")
    if not isinstance(frame_id, str) or not frame_id:
        raise FrameError("header.id missing")
    description = header.get("messageDescription")
    if not isinstance(description, dict):
        raise FrameError("header.messageDescription missing")
    _expect(description, "topic", TOPIC, "header.messageDescription.")
    action = description.get("action")
    spec = expect.get(action) if isinstance(action, str) else None
    if spec is None:
        raise FrameError(f"unknown action {action!r}")
    payload = frame.get("payload")
    if not isinstance(payload, dict):
        raise FrameError("payload missing")
    _check_payload(action, spec, payload)
    return Frame(action=action, payload=payload, id=frame_id)


def _expect(obj: dict, key: str, value: str, prefix: str = "header.") -> None:
    if obj.get(key) != value:
        raise FrameError(f"{prefix}{key} must be {value!r}, got {obj.get(key)!r}")


def _check_payload(action: str, spec: Spec, payload: dict) -> None:
    for name in spec.required:
        value = payload.get(name)
        if not isinstance(value, str):
            raise FrameError(f"{action}: payload.{name} is required (a string)")
        if not value and name not in spec.may_be_empty:
            raise FrameError(f"{action}: payload.{name} must not be empty")
    for name in spec.optional:
        if name in payload and payload[name] is not None and not isinstance(payload[name], str):
            raise FrameError(f"{action}: payload.{name} must be a string")
    for name, allowed in spec.enums.items():
        if payload.get(name) not in allowed:
            raise FrameError(f"{action}: payload.{name} must be one of {', '.join(allowed)}")


# --- server → device builders ----------------------------------------------------------------


def send_message(token: str, text: str, addresses: list[str]) -> str:
    recipients = {"recipients": [{"address": a, "addressType": PHONE_ADDRESS} for a in addresses]}
    return encode(SEND_MESSAGE, {"token": token, "message": text, "recipients": _dumps(recipients)})


def upload_conversations(token: str) -> str:
    return encode(UPLOAD_CONVERSATIONS, {"token": token})


def update_messages_status(token: str, conversation_id: str, read_ids: list[str]) -> str:
    status = {"statusMap": {"read": list(read_ids)}}
    return encode(UPDATE_MESSAGES_STATUS, {"token": token, "conversationId": conversation_id, "status": _dumps(status)})


# --- device → server builders (the simulator and tests) ---------------------------------------


def send_message_succeeded(token: str) -> str:
    return encode(SEND_MESSAGE_SUCCEEDED, {"token": token})


def send_message_failed(token: str, code: str, message: str = "") -> str:
    return encode(SEND_MESSAGE_FAILED, {"token": token, "code": code, "message": message})


def update_messages_status_succeeded(token: str) -> str:
    return encode(UPDATE_MESSAGES_STATUS_SUCCEEDED, {"token": token})


def update_messages_status_failed(token: str, code: str, message: str = "") -> str:
    return encode(UPDATE_MESSAGES_STATUS_FAILED, {"token": token, "code": code, "message": message})


def endpoint_state(connection: str = "CONNECTED", send: str = "ON", read: str = "ON") -> str:
    return encode(
        UPDATE_MESSAGING_ENDPOINT_STATE,
        {"connectionState": connection, "sendPermission": send, "readPermission": read},
    )


def conversations_report(conversations: list[dict], token: str = "") -> str:
    return encode(CONVERSATIONS_REPORT, {"token": token, "conversations": _dumps(conversations)})


def _dumps(value) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# --- JSON-string payload fields ------------------------------------------------------------------


def parse_recipients(value: str) -> list[str]:
    """The addresses of a SendMessage `recipients` string."""
    data = _loads(value, "recipients")
    items = data.get("recipients") if isinstance(data, dict) else None
    if not isinstance(items, list) or not items:
        raise FrameError("recipients: a non-empty recipients list is required")
    addresses = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("address"), str) or not item["address"]:
            raise FrameError("recipients: each recipient needs an address")
        addresses.append(item["address"])
    return addresses


def parse_status_map(value: str) -> dict[str, list[str]]:
    """{"read": [ids]} from an UpdateMessagesStatus `status` string."""
    data = _loads(value, "status")
    status_map = data.get("statusMap") if isinstance(data, dict) else None
    if not isinstance(status_map, dict):
        raise FrameError("status: statusMap is required")
    out = {}
    for state, ids in status_map.items():
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise FrameError(f"status: statusMap.{state} must be a list of ids")
        out[state] = ids
    return out


@dataclass(frozen=True)
class ReportedMessage:
    id: str
    text: str
    sender: str
    created: datetime | None
    unread: bool


@dataclass(frozen=True)
class ReportedConversation:
    id: str
    participants: list[str]
    messages: list[ReportedMessage]
    unread_count: int


def parse_conversations(value: str) -> list[ReportedConversation]:
    """The conversations of a ConversationsReport; a malformed entry refuses the frame."""
    data = _loads(value, "conversations")
    if not isinstance(data, list):
        raise FrameError("conversations must be a JSON array")
    return [_conversation(i, item) for i, item in enumerate(data)]


def _conversation(index: int, item) -> ReportedConversation:
    where = f"conversations[{index}]"
    if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not item["id"]:
        raise FrameError(f"{where}.id is required")
    participants = item.get("otherParticipants") or []
    if not isinstance(participants, list):
        raise FrameError(f"{where}.otherParticipants must be a list")
    addresses = [_address(p, f"{where}.otherParticipants[{j}]") for j, p in enumerate(participants)]
    messages = item.get("messages") or []
    if not isinstance(messages, list):
        raise FrameError(f"{where}.messages must be a list")
    parsed = [_message(m, f"{where}.messages[{j}]") for j, m in enumerate(messages)]
    count = item.get("unreadMessageCount", sum(m.unread for m in parsed))
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise FrameError(f"{where}.unreadMessageCount must be a non-negative integer")
    return ReportedConversation(item["id"], addresses, parsed, count)


def _address(item, where: str) -> str:
    if not isinstance(item, dict) or not isinstance(item.get("address"), str) or not item["address"]:
        raise FrameError(f"{where}.address is required")
    return item["address"]


def _message(item, where: str) -> ReportedMessage:
    if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not item["id"]:
        raise FrameError(f"{where}.id is required")
    payload = item.get("payload")
    if not isinstance(payload, dict) or not isinstance(payload.get("text", ""), str):
        raise FrameError(f"{where}.payload must be an object with a text")
    sender = _address(item.get("sender"), f"{where}.sender")
    return ReportedMessage(
        id=item["id"],
        text=payload.get("text", ""),
        sender=sender,
        created=parse_time(item.get("createdTime"), f"{where}.createdTime"),
        unread=item.get("status", "unread") == "unread",
    )


def parse_time(value, where: str = "createdTime") -> datetime | None:
    """ISO 8601, or epoch seconds / milliseconds (numbers or digit strings); None if absent."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.strip().lstrip("-").replace(".", "", 1).isdigit():
        value = float(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value / 1000 if abs(value) >= 1e11 else value  # 1e11 s is year 5138: must be ms
        try:
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise FrameError(f"{where} is out of range") from None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise FrameError(f"{where} must be ISO 8601 or epoch seconds/milliseconds") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise FrameError(f"{where} must be ISO 8601 or epoch seconds/milliseconds")


def _loads(value: str, name: str):
    try:
        return json.loads(value)
    except (ValueError, RecursionError):
        raise FrameError(f"{name} is not valid JSON") from None
