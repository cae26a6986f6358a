"""The seed's response envelopes and delivery-status words (SPEC §3.2).

Switchboard statuses → the 002 delivery status (word, code, description). The seed names
no words of its own; these follow the vendor's public delivery-receipt documentation
("Submitted" 7501, "Delivered" 7500, "Un-Delivered" 7208 "Message expired"); the other
failure codes are Switchboard's. Waiting statuses all read "Queued" (1001, the code the
send answered), so a client sees: Queued → Submitted → Delivered, or a failure word.

| Switchboard | deliveryStatus | code | description |
|---|---|---|---|
| accepted, scheduled, processing | Queued | 1001 | Queued |
| sent | Submitted | 7501 | Submitted |
| delivered | Delivered | 7500 | Delivered |
| delivery_failed | Un-Delivered | 7502 | Undelivered: <reason> |
| expired | Un-Delivered | 7208 | Message expired |
| sending_failed | Failed | 7503 | Failed: <reason> |
| skipped | Failed | 7504 | Skipped: <reason> (opt-out, holdout, frequency cap) |
| canceled | Failed | 7505 | Canceled |

Times are UTC with milliseconds and no offset (2016-07-20T17:13:17.908), as the vendor's
notifications write them.
"""

from datetime import UTC, datetime

from django.http import JsonResponse

from messaging.dialects.multichannel.errors import QUEUED, MultichannelError
from messaging.models import Message, Status

S = Status
QUEUED_WORD = "Queued"
DELIVERY_STATUS: dict[str, tuple[str, str, str]] = {
    S.ACCEPTED: (QUEUED_WORD, QUEUED[0], QUEUED[1]),
    S.SCHEDULED: (QUEUED_WORD, QUEUED[0], QUEUED[1]),
    S.PROCESSING: (QUEUED_WORD, QUEUED[0], QUEUED[1]),
    S.SENT: ("Submitted", "7501", "Submitted"),
    S.DELIVERED: ("Delivered", "7500", "Delivered"),
    S.DELIVERY_FAILED: ("Un-Delivered", "7502", "Undelivered"),
    S.EXPIRED: ("Un-Delivered", "7208", "Message expired"),
    S.SENDING_FAILED: ("Failed", "7503", "Failed"),
    S.SKIPPED: ("Failed", "7504", "Skipped"),
    S.CANCELED: ("Failed", "7505", "Canceled"),
}
# Reasons worth passing on (the expiry and cancel words already say everything).
WITH_REASON = {S.DELIVERY_FAILED, S.SENDING_FAILED, S.SKIPPED}
DESTINATION_TYPES = {"phonenumber": "msisdn", "emailaddress": "email", "customerid": "customerid", "userid": "userid"}


def delivery_status(status: str, reason: str = "") -> tuple[str, str, str]:
    word, code, description = DELIVERY_STATUS[status]
    if reason and status in WITH_REASON:
        description = f"{description}: {reason}"
    return word, code, description


def timestamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]


def address_of(message: Message) -> tuple[str, str]:
    """(destinationType, destination) of a message of this dialect (one receiver each)."""
    contacts = (message.receiver or {}).get("contacts") or [{}]
    first = contacts[0]
    key = first.get("identifierKey", "")
    return DESTINATION_TYPES.get(key, key), first.get("identifierValue", "")


def delivery_info(message: Message, status: str | None = None, reason: str | None = None, at=None) -> dict:
    """The seed's deliveryInfo of one message (its current status unless one is given)."""
    status = status or message.status
    word, code, description = delivery_status(status, message.reason if reason is None else reason)
    destination_type, destination = address_of(message)
    return {
        "deliveryChannel": message.channel.platform if message.channel_id else "",
        "destinationType": destination_type,
        "destination": destination,
        "deliveryStatus": word,
        "code": code,
        "description": description,
        "timeStamp": timestamp(at or message.last_status_at),
    }


def notification(message: Message, status: str, reason: str, at: datetime) -> dict:
    return {
        "deliveryInfoNotification": {
            "deliveryInfo": delivery_info(message, status, reason, at),
            "correlationid": message.correlationid,
            "callbackData": message.callback_data,
            "transid": message.transid,
        }
    }


# --- responses ---------------------------------------------------------------------------------


def accepted(entries: list[tuple[str, str]]) -> JsonResponse:
    """202 with one entry per destination: [(transid, correlationid)]."""
    response = [
        {"code": QUEUED[0], "description": QUEUED[1], "transid": transid, "correlationid": correlationid}
        for transid, correlationid in entries
    ]
    return JsonResponse({"response": response}, status=202)


def error(exc: MultichannelError) -> JsonResponse:
    return JsonResponse({"response": [{"code": exc.code, "description": exc.description}]}, status=exc.http_status)


def status(messages: list[Message]) -> JsonResponse:
    """The latest delivery status of a transid. A destination with several addresses has
    one message per address: the top-level fields describe the first address (in sorted
    order) and `deliveryInfo` lists every address."""
    infos = sorted((delivery_info(m) for m in messages), key=lambda info: info["destination"])
    first, message = infos[0], messages[0]
    return JsonResponse(
        {
            "transid": message.transid,
            "correlationid": message.correlationid,
            "deliverychannel": first["deliveryChannel"],
            "destination": first["destination"],
            "status": first["deliveryStatus"],
            "code": first["code"],
            "description": first["description"],
            "timeStamp": first["timeStamp"],
            "deliveryInfo": infos,
        }
    )
