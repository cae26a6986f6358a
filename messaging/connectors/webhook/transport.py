"""The `webhook` connector (SPEC §4): a signed JSON POST per message to `settings.url`.

Signing follows Standard Webhooks with the channel's inbound secret
(Channel.inbound_secret, `whsec_...`). It is deliberately the same secret the operator
uses to sign what they send back to /hooks/channels/<id>/inbound (incoming messages and
delivery reports), so one secret per channel authenticates both directions. The
`webhook-id` header is the message id: the same across the dispatcher's retries, so the
receiver can deduplicate.

Outcomes: 2xx → sent (a later `delivered` report comes through the inbound hook);
connection error, timeout, 408/429 or 5xx → retry; other 4xx and 3xx (redirects are never
followed) → sending_failed with the status and an excerpt of the answer; a URL the SSRF
guard refuses → sending_failed naming the rule.
"""

import re
import time

from django.conf import settings
from django.utils import timezone

from messaging.connectors.base import BaseConnector, SendResult
from messaging.models import Message, Status
from messaging.outbound import OutboundError, OutboundResponse, UnresolvableHost, UnsafeURL, post_json
from messaging.services.webhooks import encode, signed_headers

# One batch never holds a worker longer than this; the rest goes back untried ("wait").
BATCH_TIME_BUDGET_SECONDS = 60
RETRYABLE_STATUS = {408, 425, 429}


def message_payload(message: Message) -> dict:
    """What the operator's endpoint receives for one outgoing message."""
    return {
        "id": str(message.id),
        "workspaceId": str(message.workspace_id),
        "channelId": str(message.channel_id),
        "platform": message.channel.platform,
        "sender": message.sender or {},
        "receiver": message.receiver or {},
        "body": message.body or {},
        "reference": message.reference,
        "createdAt": message.created_at.isoformat().replace("+00:00", "Z"),
    }


def _excerpt(text: str, limit: int = 200) -> str:
    return re.sub(r"\s+", " ", text or "").strip()[:limit]


def result_for_response(message_id, response: OutboundResponse) -> SendResult:
    code = response.status_code
    if response.ok:
        return SendResult(message_id, Status.SENT)
    detail = response.reason_phrase or "error"
    excerpt = _excerpt(response.text_excerpt)
    if excerpt and excerpt != detail:
        detail = f"{detail}: {excerpt}"
    if code >= 500 or code in RETRYABLE_STATUS:
        return SendResult(message_id, "retry", f"HTTP {code}: {detail}")
    if 300 <= code < 400:
        return SendResult(message_id, Status.SENDING_FAILED, f"HTTP {code}: redirects are not followed")
    return SendResult(message_id, Status.SENDING_FAILED, f"HTTP {code}: {detail}")


class WebhookConnector(BaseConnector):
    slug = "webhook"
    settings_schema = {"url": str, "timeout": int}

    @classmethod
    def validate_settings(cls, values: dict) -> dict:
        out = super().validate_settings(values)
        url = out.get("url")
        if not url or not isinstance(url, str):
            raise ValueError("settings.url is required: the URL messages are POSTed to")
        if not re.match(r"^https?://[^/\s]+", url):
            raise ValueError("settings.url must be an http or https URL")
        if "timeout" in out and not 1 <= out["timeout"] <= 60:
            raise ValueError("settings.timeout must be between 1 and 60 seconds")
        return out

    def send_batch(self, messages: list[Message]) -> list[SendResult]:
        url = (self.channel.settings or {}).get("url")
        if not url:
            return [SendResult(m.id, Status.SENDING_FAILED, "channel settings.url is not set") for m in messages]
        timeout = (self.channel.settings or {}).get("timeout") or settings.OUTBOUND_HTTP_TIMEOUT
        deadline = time.monotonic() + BATCH_TIME_BUDGET_SECONDS
        results: list[SendResult] = []
        stop: SendResult | None = None  # once the URL is refused or unreachable, the rest share the outcome
        for message in messages:
            if stop is not None:
                results.append(SendResult(message.id, stop.status, stop.reason))
            elif time.monotonic() > deadline:
                results.append(SendResult(message.id, "wait", "not attempted: the batch used up its time budget"))
            else:
                result, fatal = self._send_one(url, message, timeout)
                results.append(result)
                if fatal:
                    stop = SendResult(None, result.status, f"{result.reason} (not attempted after that)")
        return results

    def _send_one(self, url: str, message: Message, timeout: float) -> tuple[SendResult, bool]:
        """One POST; the flag says whether the rest of the batch should not be tried."""
        body = encode(message_payload(message))
        headers = signed_headers(self.channel.inbound_secret, str(message.id), body, timezone.now())
        try:
            response = post_json(url, body, headers, timeout=timeout)
        except UnresolvableHost as exc:  # DNS trouble may pass: try again later
            return SendResult(message.id, "retry", f"webhook unreachable: {exc}"), True
        except UnsafeURL as exc:
            return SendResult(message.id, Status.SENDING_FAILED, f"URL refused by the SSRF guard: {exc}"), True
        except OutboundError as exc:
            return SendResult(message.id, "retry", f"webhook unreachable: {exc}"), True
        return result_for_response(message.id, response), False
