"""`/services/rest/user/allMessages` (seed 004): parse, call the service, answer.

GET with query parameters or POST application/x-www-form-urlencoded: `username`,
`password`, `since` (epoch seconds, exclusive), and an optional `apiKey` (a service key
of the user's workspace) for a username that exists in several workspaces. Every answer
is HTTP 200 with the seed's `status` (see errors.py); nothing here ever renders a 500 page.
"""

import re

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from messaging.dialects.all_messages import errors
from messaging.errors import ValidationFailed
from messaging.services import all_messages as service

_INTEGER = re.compile(r"-?[0-9]+")
_WHITESPACE = re.compile(r"\s")


# The caller authenticates with username/password in the request itself: there is no
# session cookie to forge, so Django's CSRF check does not apply (and would refuse every
# legacy client's form POST).
@csrf_exempt
@require_http_methods(["GET", "POST"])
def all_messages(request: HttpRequest) -> JsonResponse:
    try:
        params = _params(request)
        username, password, since = _parse(params)
        user = service.authenticate(username, password, params.get("apiKey", "").strip())
        page = service.messages_page(user, since)
        return JsonResponse(_render(page))
    except Exception as error:  # every failure is a status in the body, never a 500 page
        return JsonResponse(errors.error_body(error))


def _params(request: HttpRequest) -> dict[str, str]:
    """Query parameters, overridden by form fields on a POST."""
    params = {key: request.GET.get(key, "") for key in request.GET}
    if request.method == "POST":
        params.update({key: request.POST.get(key, "") for key in request.POST})
    return params


def _parse(params: dict[str, str]) -> tuple[str, str, int]:
    username = params.get("username", "")
    password = params.get("password", "")
    since = params.get("since", "").strip()
    for name, value in (("username", username.strip()), ("password", password), ("since", since)):
        if not value:
            raise service.MissingParameter.field(name, "is required")
    if _WHITESPACE.search(username):
        raise ValidationFailed.field("username", "must not contain spaces")
    if not _INTEGER.fullmatch(since):
        raise ValidationFailed.field("since", "must be an integer number of seconds since 1970-01-01 UTC")
    seconds = int(since)
    if seconds < 0:
        raise ValidationFailed.field("since", "must not be negative")
    if seconds > service.MAX_SINCE:
        raise ValidationFailed.field("since", f"must be at most {service.MAX_SINCE}")
    return username, password, seconds


def _render(page: service.MessagesPage) -> dict:
    """The seed's response, key for key."""
    return {
        "newestMessageTimestamp": page.newest_timestamp,
        "hasMoreMessages": page.has_more,
        "incomingMessages": [_incoming(m) for m in page.incoming],
        "outgoingMessages": [_outgoing(m) for m in page.outgoing],
        "status": errors.OK,
    }


def _incoming(message: service.PolledMessage) -> dict:
    item = {
        "documentId": message.document_id,
        "text": message.text,
        "timestamp": message.timestamp,
        "from": message.sender,
        "recipient": message.recipient,
    }
    if message.origin_document_id:  # only on replies, as in the seed
        item["originDocumentId"] = message.origin_document_id
    return item


def _outgoing(message: service.PolledMessage) -> dict:
    return {
        "documentId": message.document_id,
        "text": message.text,
        "timestamp": message.timestamp,
        "recipient": message.recipient,
    }
