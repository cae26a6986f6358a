"""POST /hooks/channels/<channel_id>/inbound — signed inbound messages and delivery reports.

Authentication is the Standard Webhooks signature made with the channel's inbound secret
(Channel.inbound_secret): no access key, no session, hence csrf_exempt. A missing, wrong
or stale (more than 5 minutes off) signature gets 401 and nothing is stored. A
`webhook-id` is processed once per channel: a repeat is answered 200 with the first
answer and stores nothing new (ProcessedWebhook).
"""

import json

from django.core.exceptions import RequestDataTooBig
from django.db import IntegrityError, transaction
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from standardwebhooks import Webhook, WebhookVerificationError

from messaging.dialects.channels_api.errors import DOMAIN_STATUS, error_body
from messaging.errors import DomainError
from messaging.hooks import inbound
from messaging.models import Channel, ProcessedWebhook


def _error(status: int, code: str, message: str, details: dict | None = None, **headers) -> JsonResponse:
    response = JsonResponse(error_body(code, message, details), status=status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def _unauthorized(message: str) -> JsonResponse:
    return _error(401, "Unauthorized", message, WWW_Authenticate="Standard-Webhooks")


def _domain_error(exc: DomainError) -> JsonResponse:
    status, code = next((v for k, v in DOMAIN_STATUS.items() if isinstance(exc, k)), (422, exc.code))
    return _error(status, code, exc.message, exc.details)


# csrf_exempt: the caller is a server authenticated by the body's signature, which a
# cross-site form cannot produce; there is no cookie-based session here to protect.
@csrf_exempt
def channel_inbound(request: HttpRequest, channel_id) -> JsonResponse:
    if request.method != "POST":
        return _error(405, "MethodNotAllowed", f'Method "{request.method}" not allowed.', Allow="POST")
    channel = (
        Channel.objects.select_related("workspace")
        .filter(id=channel_id, connector__in=inbound.HOOK_CONNECTORS)
        .first()
    )
    if channel is None:
        return _error(404, "NotFound", "No sandbox or webhook channel has this id.")
    try:
        raw = request.body
    except RequestDataTooBig:
        return _error(413, "PayloadTooLarge", "The request body is too large.")
    try:
        Webhook(channel.inbound_secret).verify(raw, dict(request.headers.items()), json_parse=False)
    except WebhookVerificationError as exc:
        return _unauthorized(f"Invalid webhook signature: {exc}.")
    except ValueError:  # a malformed webhook-signature header, or a body that is not UTF-8
        return _unauthorized("Invalid webhook signature: malformed webhook-signature header or body.")
    if channel.status != "active":
        return _error(409, "ChannelInactive", "The channel is inactive.")
    webhook_id = request.headers["webhook-id"]
    if len(webhook_id) > 200:
        return _error(422, "InvalidPayload", "webhook-id: must be at most 200 characters", {"webhook-id": ["too long"]})
    try:
        payload = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: nested too deeply
        return _error(400, "InvalidJSON", "The body is not valid JSON.")
    try:
        return JsonResponse(_process_once(channel, webhook_id, payload))
    except DomainError as exc:
        return _domain_error(exc)


def _process_once(channel: Channel, webhook_id: str, payload) -> dict:
    """Handle the body unless this webhook-id was handled before; the answer either way.

    The ProcessedWebhook row and the work commit together: a failure leaves neither, so
    the sender's retry is processed afresh. Two copies racing meet at the unique
    constraint; the loser waits for the winner's commit and repeats its answer.
    """
    with transaction.atomic():
        try:
            with transaction.atomic():
                record = ProcessedWebhook.objects.create(channel=channel, webhook_id=webhook_id)
        except IntegrityError:
            return ProcessedWebhook.objects.get(channel=channel, webhook_id=webhook_id).response
        result = inbound.handle(channel, webhook_id, payload)
        record.response = result
        record.save(update_fields=["response"])
        return result
