"""`POST /rest/user/login` and the 14 `/rest/user/message/...` resources (seed 003).

Each resource is a small handler: read its fields from the parsed body, call one service
of messaging.services.app_messages, return the response fields. `endpoint()` does the
rest for all of them, in this order: parse the body (JSON or XML; refusals → 2), the
`apiKey` (body or X-Api-Key; missing or wrong → 600), the API key's rate limit (98), the
`authToken` (body or X-Auth-Token; missing, wrong or expired → 100; a blocked account → 97),
the user's rate limit (98), then the handler. Whatever goes wrong becomes the seed's
envelope with a code (errors.py) — a database outage is 99, never a 500.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from messaging.dialects.user_messages import codec, throttle
from messaging.dialects.user_messages.errors import (
    HTTP_STATUS,
    INVALID_API_KEY,
    MISSING_PARAMETER,
    UserApiError,
    invalid,
    missing,
    to_api_error,
)
from messaging.models import AppUser, Service
from messaging.services import app_messages as inbox

log = logging.getLogger(__name__)


@dataclass
class Call:
    """One request: its fields, the API key's service and (but for login) the app user."""

    data: dict
    service: Service
    user: AppUser | None = None

    def has(self, name: str) -> bool:
        return self.data.get(name) not in (None, "")

    def text(self, name: str, required: bool = True) -> str | None:
        value = self.data.get(name)
        if value is None or value == "":
            if required:
                raise missing(name)
            return None
        if isinstance(value, int | float) and not isinstance(value, bool) and name != "text":
            return str(value)  # a number given as a JSON number, e.g. an msisdn
        if not isinstance(value, str):
            raise invalid(name, "must be a string")
        return value

    def integer(self, name: str, default: int, minimum: int, maximum: int) -> int:
        value = self.data.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value.strip())
        if isinstance(value, bool) or not isinstance(value, int):
            raise invalid(name, "must be a whole number")
        if not minimum <= value <= maximum:
            raise invalid(name, f"must be between {minimum} and {maximum}")
        return value

    def boolean(self, name: str) -> bool | None:
        value = self.data.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
            return value.strip().lower() in ("true", "1")
        raise invalid(name, "must be true or false")

    def id_list(self, name: str) -> list:
        value = self.data.get(name)
        if value is None or value == "" or value == []:
            raise missing(name)
        if isinstance(value, str | int):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise invalid(name, "must be a list of ids")
        if len(value) > inbox.MAX_IDS:
            raise invalid(name, f"at most {inbox.MAX_IDS} ids per request")
        return value

    def offset_limit(self) -> tuple[int, int]:
        offset = self.integer("offset", 0, 0, 10_000_000)
        return offset, self.integer("limit", inbox.DEFAULT_LIMIT, 1, inbox.MAX_LIMIT)


# --- the resources ------------------------------------------------------------------------------


def login(call: Call) -> dict:
    username, password = call.text("username"), call.text("password")
    throttle.check_login(call.service.id, username)
    result = inbox.login(call.service, username, password, call.text("deviceId", required=False) or "")
    return {"authToken": result.token, "userId": result.user.id}


def conversations_get(call: Call) -> dict:
    offset, limit = call.offset_limit()
    views = inbox.list_conversations(call.user, offset=offset, limit=limit)
    return {"conversations": [inbox.conversation_dict(v, call.user) for v in views]}


def conversations_read(call: Call) -> dict:
    inbox.read_conversation(call.user, call.text("conversationId"))
    return {}


def conversations_delete(call: Call) -> dict:
    inbox.delete_conversations(call.user, [call.text("conversationId")], field="conversationId")
    return {}


def conversations_delete_list(call: Call) -> dict:
    return {"deleted": inbox.delete_conversations(call.user, call.id_list("conversationIds"))}


def messages_by_conversation(call: Call) -> dict:
    conversation_id = call.text("conversationId")
    offset, limit = call.offset_limit()
    messages = inbox.conversation_messages(call.user, conversation_id, offset=offset, limit=limit)
    return {"messages": _messages(messages, call.user)}


def message_insert(call: Call) -> dict:
    sender, text = call.text("sender"), call.text("text")
    at = inbox.from_epoch(call.data["timestamp"], "timestamp") if call.has("timestamp") else None
    return {"message": inbox.message_dict(inbox.insert(call.user, sender, text, at=at), call.user)}


def message_send(call: Call) -> dict:
    recipient, text = call.text("recipient"), call.text("text")
    message = inbox.send(call.user, call.service, recipient, text)
    return {"message": inbox.message_dict(message, call.user)}


def message_update(call: Call) -> dict:
    message_id = call.text("messageId")
    text, read = call.text("text", required=False), call.boolean("read")
    if text is None and read is None:
        raise UserApiError(MISSING_PARAMETER, "Give 'text' or 'read' (or both) to update the message.")
    return {"message": inbox.message_dict(inbox.update(call.user, message_id, text=text, read=read), call.user)}


def message_delete(call: Call) -> dict:
    inbox.delete_messages(call.user, [call.text("messageId")], field="messageId")
    return {}


def message_delete_list(call: Call) -> dict:
    return {"deleted": inbox.delete_messages(call.user, call.id_list("messageIds"))}


def message_lock_list(call: Call) -> dict:
    return {"locked": inbox.set_locked(call.user, call.id_list("messageIds"), True)}


def message_unlock_list(call: Call) -> dict:
    return {"unlocked": inbox.set_locked(call.user, call.id_list("messageIds"), False)}


def message_search(call: Call) -> dict:
    query = call.text("query")
    limit = call.integer("limit", inbox.DEFAULT_LIMIT, 1, inbox.MAX_LIMIT)
    return {"messages": _messages(inbox.search(call.user, query, limit=limit), call.user)}


def message_sync(call: Call) -> dict:
    device_id = call.text("deviceId")
    since = inbox.from_epoch(call.data["since"], "since") if call.has("since") else None
    result = inbox.sync(call.user, device_id, since=since)
    return {
        "messages": _messages(result.messages, call.user),
        "deletedMessageIds": result.deleted_ids,
        "syncTimestamp": inbox.epoch(result.at),
        "hasMore": result.has_more,
    }


def _messages(messages, user: AppUser) -> list[dict]:
    return [inbox.message_dict(m, user) for m in messages]


# --- the shared edge -----------------------------------------------------------------------------------


def _header(request: HttpRequest, name: str) -> str:
    return request.headers.get(name, "") or ""


def _authenticate_key(request: HttpRequest, data: dict) -> Service:
    api_key = data.get("apiKey") or _header(request, "X-Api-Key")
    if not api_key:
        raise UserApiError(INVALID_API_KEY, "The api key is invalid: no apiKey was given.")
    service = inbox.service_for_key(str(api_key))
    if service is None:
        raise UserApiError(INVALID_API_KEY, "The api key is invalid.")
    if not service.active:
        raise inbox.Denied("The access to the api was denied: this service is inactive.")
    return service


def _read_body(request: HttpRequest) -> bytes:
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > codec.max_body_bytes():  # refused unread
        raise codec.CodecError(f"The request body is larger than {codec.max_body_bytes()} bytes.")
    try:
        return request.body
    except RequestDataTooBig:
        raise codec.CodecError(f"The request body is larger than {codec.max_body_bytes()} bytes.") from None


def _serve(request: HttpRequest, root: str, handler: Callable[[Call], dict], needs_token: bool) -> dict:
    # The answer's format, known before the body is read so even a refusal of it is in kind.
    request._user_api_xml = codec.is_xml_request(request.content_type, b"")
    body = _read_body(request)
    request_is_xml = request._user_api_xml = codec.is_xml_request(request.content_type, body)
    data = codec.parse(body, request_is_xml, root)
    service = _authenticate_key(request, data)
    throttle.check_api_key(service.id)
    call = Call(data=data, service=service)
    if needs_token:
        token = data.get("authToken") or _header(request, "X-Auth-Token")
        call.user = inbox.user_for_token(str(token or ""), workspace_id=service.workspace_id)
        throttle.check_app_user(call.user.id)
    return handler(call)


def endpoint(root: str, handler: Callable[[Call], dict], needs_token: bool = True):
    """The Django view of one resource whose request root element is `root`."""
    response_root = root.removesuffix("Request") + "Response"

    # CSRF-exempt: callers authenticate with apiKey/authToken in the body or headers,
    # never a cookie, so there is nothing for a cross-site page to ride on.
    @csrf_exempt
    def view(request: HttpRequest) -> HttpResponse:
        request._user_api_xml = False
        headers = {}
        if request.method != "POST":
            payload = _error(UserApiError(MISSING_PARAMETER, "Use POST for this resource."))
            status, headers = 405, {"Allow": "POST"}
        else:
            try:
                payload = {"status": "OK", **_serve(request, root, handler, needs_token)}
                status = 200
            except codec.CodecError as exc:
                payload, status = _error(UserApiError(MISSING_PARAMETER, exc.message)), 400
            except Exception as exc:
                error = to_api_error(exc)
                payload, status = _error(error), HTTP_STATUS[error.code]
                if error.retry_after:
                    headers["Retry-After"] = str(error.retry_after)
        xml = codec.wants_xml(_header(request, "Accept"), request._user_api_xml)
        content, content_type = codec.render(response_root, payload, xml)
        response = HttpResponse(content, status=status, content_type=content_type)
        for name, value in headers.items():
            response[name] = value
        return response

    view.__name__ = handler.__name__
    view.__doc__ = f"POST {root} → {response_root} (seed 003)."
    return view


def _error(error: UserApiError) -> dict:
    return {"status": "ERROR", "errorCode": error.code, "errorMessage": error.message}
