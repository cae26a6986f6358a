"""Views of the multichannel dialect (seed 002): parse, call the send service, answer.

Plain Django views rather than DRF: the seed fixes the envelope of every answer, errors
included, and authenticates by a `key` header, so DRF's parsers, authentication and
exception handling would only have to be undone.
"""

import json
import logging

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from messaging.dialects.multichannel import errors, parse, render
from messaging.dialects.multichannel.errors import MultichannelError
from messaging.errors import DomainError
from messaging.models import Message, Service
from messaging.services import send

log = logging.getLogger(__name__)


def _answer(request: HttpRequest, handler) -> JsonResponse:
    """Every outcome in the seed's envelope; only a real fault is 7006 (500), and logged."""
    try:
        return handler(request)
    except MultichannelError as exc:
        return render.error(exc)
    except DomainError as exc:
        return render.error(errors.from_domain(exc))
    except RequestDataTooBig:
        return render.error(errors.invalid("request body", "is too large"))
    except Exception:
        log.exception("multichannel %s %s failed", request.method, request.path)
        return render.error(errors.internal())


def authenticate(request: HttpRequest) -> Service:
    key = (request.headers.get("key") or "").strip()
    if not key:
        raise errors.key_missing()
    service = Service.find_by_token_with(key, "workspace")
    if service is None:
        raise errors.auth_failed()
    if not service.active:
        raise errors.service_inactive(service.name)
    return service


def load_json(raw: bytes):
    try:
        return json.loads(raw, parse_constant=_no_constants)
    except (ValueError, RecursionError) as exc:
        raise errors.invalid_json(str(exc) or "the body is not JSON") from None


def _no_constants(name: str):
    raise ValueError(f"{name} is not valid JSON")


def _method_not_allowed(allowed: str) -> JsonResponse:
    response = render.error(MultichannelError("7004", f"Invalid parameters: use {allowed}", 405))
    response["Allow"] = allowed
    return response


# CSRF-exempt on purpose (both views): the caller authenticates with the `key` header of a
# service, never a cookie, so a cross-site page has no credential to ride on; CSRF checks
# would only refuse every server-to-server client of this API.
@csrf_exempt
def messaging(request: HttpRequest) -> JsonResponse:
    """POST /resources/v1/messaging — one message per destination address, one transid
    per destination (stored on each of its messages)."""
    if request.method != "POST":
        return _method_not_allowed("POST")
    return _answer(request, _send)


def _send(request: HttpRequest) -> JsonResponse:
    service = authenticate(request)
    plan = parse.parse_request(service, load_json(request.body))
    items = []
    for destination in plan.destinations:
        content = plan.contents[destination.platform]
        fields = {
            **plan.fields,
            "transid": destination.transid,
            "correlationid": destination.correlationid,
            "reference": destination.correlationid,
            "template": content.template,
            "template_info": content.template_info,
            "sender": content.sender,
        }
        items += [send.Outgoing(destination.channel, address, content.body, fields) for address in destination.addresses]
    send.accept_prepared(service.workspace, items, actor=f"service {service.name}", links=plan.links or None)
    return render.accepted([(d.transid, d.correlationid) for d in plan.destinations])


@csrf_exempt
def status(request: HttpRequest, transid: str) -> JsonResponse:
    """GET /resources/v1/messaging/status/{transid} — the latest delivery status; a transid
    of another service (or workspace) is 404, the same as one that does not exist."""
    if request.method != "GET":
        return _method_not_allowed("GET")
    return _answer(request, lambda req: _status(req, transid))


def _status(request: HttpRequest, transid: str) -> JsonResponse:
    service = authenticate(request)
    messages = list(
        Message.objects.filter(workspace_id=service.workspace_id, transid=transid[:64], service=service)
        .select_related("channel")
        .order_by("created_at")
    )
    if not messages:
        raise errors.not_found(transid[:64])
    return render.status(messages)
