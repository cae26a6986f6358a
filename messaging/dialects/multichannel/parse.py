"""Reading a seed-002 request into a plan the send service can commit (SPEC §3.2).

Every problem is raised as a MultichannelError naming the parameter the client sent
(`destination[2].msisdn[0]`, `channels.sms.text`, ...): 7003 when something mandatory is
absent, 7004 when a value is wrong, 7009 when there are too many destinations. Checks run
in the order a client fixes them, and the database is only read (channels, template,
smart links: a few queries however many destinations), never written.

Decisions the seed leaves open (the README repeats them):
- `deliverychannel` may be a comma list ("sms,email"): each destination goes out on the
  first channel in that order that the service serves and the destination has an address
  for; all its addresses of that kind get the message.
- Addresses per delivery channel: sms/whatsapp/voice ← `msisdn`; email ← `email`;
  appmessaging/push ← `userid` or `customerid` (an app user's username); other platforms
  take any.
- `msisdn/customerid` (a key the seed's own example uses): on a phone channel (sms,
  whatsapp, voice) each value that is a phone number is an msisdn; on appmessaging/push each
  value is a customer id; on other platforms a phone number if it parses as one.
- An msisdn in international form without "+" (918886661353) is accepted: a digits-only
  value that is no valid number of the workspace's region is tried with "+" in front.
- At most 1000 destinations and at most 1000 addresses in all (7009): one request is one
  transaction.
"""

import math
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator
from django.db.models import Q
from django.utils import timezone

from messaging.dialects.multichannel import errors as e
from messaging.errors import ValidationFailed
from messaging.models import PLATFORMS, Channel, IdentifierKey, Service, Template
from messaging.outbound import UnsafeURL, check_url
from messaging.services import smartlinks
from messaging.services import templates as tpl
from messaging.services.identifiers import normalize

MAX_DESTINATIONS = 1000
MAX_ADDRESSES = 1000
MAX_CORRELATION_BYTES = 50
MAX_TEXT = 100_000
MAX_CALLBACK_DATA = 4000
MAX_VALIDITY = 365 * 86400  # as the canonical API's validity
MAX_SMARTLINKS = smartlinks.MAX_LISTED

K = IdentifierKey
ADDRESS_KEYS = {"msisdn": K.PHONENUMBER, "email": K.EMAILADDRESS, "customerid": K.CUSTOMERID, "userid": K.USERID}
EITHER_KEY = "msisdn/customerid"
# Which identifier kinds each delivery channel delivers to (None: any).
PLATFORM_KEYS: dict[str, tuple[str, ...]] = {
    "sms": (K.PHONENUMBER,),
    "whatsapp": (K.PHONENUMBER,),
    "voice": (K.PHONENUMBER,),
    "email": (K.EMAILADDRESS,),
    "appmessaging": (K.USERID, K.CUSTOMERID),  # an AppUser's username (connectors/app)
    "push": (K.USERID, K.CUSTOMERID),
}
ATTACHMENT_KINDS = ("file", "image", "video", "audio", "location")
MIME = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$")
INTERACTIVE_CATEGORIES = (
    "SINGLE_DISMISS SINGLE_OPEN SINGLE_SUBSCRIBE SINGLE_UNSUBSCRIBE SINGLE_SHARE SINGLE_DEEPLINK SINGLE_REPLY "
    "DOUBLE_YES_NO DOUBLE_ACCEPT_CANCEL DOUBLE_SHARE_CANCEL DOUBLE_SHOPNOW_CANCEL DOUBLE_LATER_NOW "
    "DOUBLE_PLAY_NOW_PLAY_LATER DOUBLE_OK_LEARN_MORE DOUBLE_SUBSCRIBE_UNSUBSCRIBE DOUBLE_BUY_NOW_BUY_LATER "
    "DOUBLE_LIKE_SHARE DOUBLE_REPLY_DISMISS DOUBLE_REPLY_NO_DISMISS DOUBLE_REPLY_YES_DISMISS DOUBLE_REPLY_YES_NO"
).split()
# Actions whose `value` completes them (the seed: "Yes, depending on action parameter").
ACTIONS_NEEDING_VALUE = {"OPEN_URL", "OPEN_WEBVIEW", "OPENWEBVIEW", "OPEN_HTML", "DEEPLINK", "SHARE"}
EXTRAS = ("android_extras", "ios_extras", "windows_extras", "web_extras")
EXPIRY = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})[Tt ](?P<time>\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)"
    r"(?P<tz>[Zz]|[+-]\d{1,2}(?::?\d{2})?)?$"
)
_url = URLValidator(schemes=["http", "https"])


@dataclass
class Destination:
    index: int
    correlationid: str
    transid: str
    platform: str = ""
    channel: Channel | None = None
    addresses: list[tuple[str, str]] = field(default_factory=list)
    # `msisdn/customerid` values: (the value as a phone number, or None; as a customer id)
    either: list[tuple[str | None, str]] = field(default_factory=list)


@dataclass
class Content:
    """What a message on one delivery channel carries."""

    body: dict
    template: Template | None = None
    template_info: dict = field(default_factory=dict)
    sender: dict = field(default_factory=dict)


@dataclass
class Plan:
    destinations: list[Destination]
    contents: dict[str, Content]
    fields: dict  # Message fields shared by every message of the request
    links: smartlinks.Plan


# --- entry point ---------------------------------------------------------------------------


def parse_request(service: Service, data, now: datetime | None = None) -> Plan:
    now = now or timezone.now()
    if not isinstance(data, dict):
        raise e.invalid("request body", "must be a JSON object")
    platforms = _delivery_channels(data.get("deliverychannel"))
    region = service.workspace.default_region
    request_correlation = _correlationid(data.get("correlationid"), "correlationid")
    destinations = _destinations(data.get("destination"), request_correlation, region)
    fields = {
        "service": service,
        "priority": _priority(data.get("priority"), service.default_priority),
        "notify_url": _notify_url(data.get("notifyurl")),
        "callback_data": _callback_data(data.get("callbackData")),
        **_expiry(data.get("expiry"), now),
    }
    channels = _channels_block(data.get("channels"))
    message = _message_block(data.get("message"))
    _resolve_template(service, message)
    listed = _listed_smartlinks(data.get("smartlinks"))
    serving = _serving_channels(service, platforms)
    for destination in destinations:
        _choose_channel(destination, platforms, serving)
    used = sorted({d.platform for d in destinations}, key=platforms.index)
    contents = {p: _content(service, p, channels, message) for p in used}
    references: dict[int, str] = {}
    for platform, content in contents.items():
        for linkid in smartlinks.referenced_linkids(smartlinks.body_texts(content.body)):
            references.setdefault(linkid, f"channels.{platform}")
    links = _wrap(lambda: smartlinks.plan(service.workspace, listed, references))
    return Plan(destinations=destinations, contents=contents, fields=fields, links=links)


def _wrap(call):
    """Run a service call, turning its ValidationFailed into the 70xx error naming the field."""
    try:
        return call()
    except ValidationFailed as exc:
        raise e.from_domain(exc) from None


# --- scalars -------------------------------------------------------------------------------


def _string(value, field_name: str, max_length: int, required: bool = False, numbers: bool = True) -> str:
    """A string parameter; numbers are accepted as their text where the seed types a
    string that clients often send as a number (priority, ids)."""
    if value is None or value == "":
        if required:
            raise e.missing(field_name)
        return ""
    if numbers and isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise e.invalid(field_name, "must be a string")
    if required and not value.strip():
        raise e.missing(field_name, "may not be blank")
    if len(value) > max_length:
        raise e.invalid(field_name, f"must be at most {max_length} characters")
    return value


def _object(value, field_name: str, required: bool = False) -> dict | None:
    if value is None:
        if required:
            raise e.missing(field_name)
        return None
    if not isinstance(value, dict):
        raise e.invalid(field_name, "must be a JSON object")
    return value


def _positive_int(value, field_name: str) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise e.invalid(field_name, "must be a positive whole number")
    return value


def _url_value(value, field_name: str, required: bool = True) -> str:
    value = _string(value, field_name, 2000, required=required, numbers=False)
    if value:
        try:
            _url(value)
        except DjangoValidationError:
            raise e.invalid(field_name, "must be an http(s) URL") from None
    return value


def _correlationid(value, field_name: str) -> str:
    value = _string(value, field_name, 10 * MAX_CORRELATION_BYTES)
    if len(value.encode("utf-8")) > MAX_CORRELATION_BYTES:
        raise e.invalid(field_name, f"must be at most {MAX_CORRELATION_BYTES} bytes (UTF-8)")
    return value


def _delivery_channels(value) -> list[str]:
    value = _string(value, "deliverychannel", 200, required=True, numbers=False)
    platforms: list[str] = []
    for part in value.split(","):
        name = part.strip().lower()
        if not name:
            raise e.invalid("deliverychannel", "has an empty entry in its list")
        if name not in PLATFORMS:
            raise e.invalid("deliverychannel", f"'{name}' is not a delivery channel ({', '.join(PLATFORMS)})")
        if name not in platforms:
            platforms.append(name)
    return platforms


def _priority(value, default: int) -> int:
    """1-3 as a number or a string; anything else is the service's default (the seed)."""
    if isinstance(value, str) and value.strip() in ("1", "2", "3"):
        return int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 3:
        return value
    return default


def _notify_url(value) -> str:
    url = _url_value(value, "notifyurl", required=False)
    if url:
        try:
            check_url(url)  # checked again when each notification is sent (DNS can change)
        except UnsafeURL as exc:
            raise e.invalid("notifyurl", f"is refused: {exc}") from None
    return url


def _callback_data(value) -> str:
    return _string(value, "callbackData", MAX_CALLBACK_DATA)


def parse_expiry(value: str) -> datetime:
    """ISO 8601 as the seed writes it: 2015-04-12T13:00:19.456Z, 2015-04-12T18:30:19.456+5:30
    (an hour offset without its leading zero), +0530, or no offset at all (UTC, as the seed
    says expiry is "in UTC format"). ValueError if it is none of those."""
    match = EXPIRY.match(value.strip())
    if not match:
        raise ValueError(value)
    time_part = match["time"]
    if "." in time_part:
        whole, fraction = time_part.split(".")
        time_part = f"{whole}.{fraction[:6].ljust(6, '0')}"
    parsed = datetime.fromisoformat(f"{match['date']}T{time_part}")
    tz = match["tz"]
    if not tz or tz in "Zz":
        return parsed.replace(tzinfo=UTC)
    sign = -1 if tz[0] == "-" else 1
    digits = tz[1:]
    if ":" in digits:
        hours, minutes = digits.split(":")
    elif len(digits) > 2:
        hours, minutes = digits[:-2], digits[-2:]
    else:
        hours, minutes = digits, "0"
    offset = timedelta(hours=int(hours), minutes=int(minutes))
    if offset >= timedelta(hours=24) or int(minutes) >= 60:
        raise ValueError(value)
    return parsed.replace(tzinfo=UTC) - sign * offset


def _expiry(value, now: datetime) -> dict:
    """Message fields for `expiry`: expires_at and the validity (seconds) up to it."""
    text = _string(value, "expiry", 64, numbers=False)
    if not text:
        return {}
    try:
        at = parse_expiry(text)
    except ValueError:
        raise e.invalid("expiry", "must be a time like 2015-04-12T13:00:19.456Z or 2015-04-12T18:30:19.456+5:30") from None
    if at <= now:
        raise e.invalid("expiry", "is in the past")
    if at - now > timedelta(seconds=MAX_VALIDITY):
        raise e.invalid("expiry", "must be at most a year ahead")
    return {"expires_at": at, "validity": max(1, math.ceil((at - now).total_seconds()))}


# --- destinations ----------------------------------------------------------------------------


def _destinations(value, request_correlation: str, region: str) -> list[Destination]:
    if value is None or value == []:
        raise e.missing("destination", "is mandatory: give at least one destination")
    if not isinstance(value, list):
        raise e.invalid("destination", "must be a JSON array")
    if len(value) > MAX_DESTINATIONS:
        raise e.too_many("destinations", len(value), MAX_DESTINATIONS)
    destinations = []
    total = 0
    for index, entry in enumerate(value):
        name = f"destination[{index}]"
        entry = _object(entry, name, required=True)
        correlation = _correlationid(entry.get("correlationid"), f"{name}.correlationid") or request_correlation
        destination = Destination(index=index, correlationid=correlation, transid=str(uuid.uuid4()))
        destination.addresses, destination.either = _addresses(entry, name, region)
        total += len(destination.addresses) + len(destination.either)
        destinations.append(destination)
    if total > MAX_ADDRESSES:
        raise e.too_many("addresses", total, MAX_ADDRESSES)
    return destinations


def _addresses(entry: dict, name: str, region: str) -> tuple[list[tuple[str, str]], list[tuple[str | None, str]]]:
    out: list[tuple[str, str]] = []
    either: list[tuple[str | None, str]] = []
    for key in (*ADDRESS_KEYS, EITHER_KEY):
        if entry.get(key) in (None, [], ""):
            continue
        values = entry[key] if isinstance(entry[key], list) else [entry[key]]
        if len(values) > MAX_ADDRESSES:
            raise e.too_many(f"{name}.{key} values", len(values), MAX_ADDRESSES)
        for position, raw in enumerate(values):
            field_name = f"{name}.{key}[{position}]"
            if key == EITHER_KEY:
                value = _either(raw, field_name, region)
                if value not in either:
                    either.append(value)
                continue
            address = _address(key, raw, field_name, region)
            if address not in out:
                out.append(address)
    if not out and not either:
        raise e.missing(name, "needs msisdn, email, customerid or userid")
    return out, either


def _raw_value(raw, field_name: str) -> str:
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise e.invalid(field_name, "must be a string")
    value = str(raw).strip()
    if not value:
        raise e.missing(field_name, "may not be blank")
    return value


def _either(raw, field_name: str, region: str) -> tuple[str | None, str]:
    """A `msisdn/customerid` value: which one it is depends on the delivery channel chosen
    (a phone number for sms, a customer id for appmessaging), so both readings are kept."""
    value = _raw_value(raw, field_name)
    return _phone_or_none(value, region), _wrap(lambda: normalize(K.CUSTOMERID, value, region, field_name))


def _address(key: str, raw, field_name: str, region: str) -> tuple[str, str]:
    value = _raw_value(raw, field_name)
    if key == "msisdn":
        phone = _phone_or_none(value, region)
        if phone is None:
            raise e.invalid(field_name, f"'{value}' is not a valid phone number")
        return K.PHONENUMBER, phone
    identifier_key = ADDRESS_KEYS[key]
    return identifier_key, _wrap(lambda: normalize(identifier_key, value, region, field_name))


def _phone_or_none(value: str, region: str) -> str | None:
    candidates = [value]
    if value.isdigit():
        candidates.append(f"+{value}")  # international without "+", as many clients send it
    for candidate in candidates:
        try:
            return normalize(K.PHONENUMBER, candidate, region)
        except ValidationFailed:
            continue
    return None


# --- channels: which one serves each delivery channel -----------------------------------------


def _serving_channels(service: Service, platforms: list[str]) -> dict[str, Channel | str]:
    """Per delivery channel, the channel that serves it, or why none does (one query).

    Service.channel_map[platform] names it; without a mapping the workspace's only active
    channel of that platform serves it."""
    mapping = service.channel_map if isinstance(service.channel_map, dict) else {}
    mapped_ids = [str(mapping[p]) for p in platforms if mapping.get(p)]
    valid_ids = [i for i in mapped_ids if _is_uuid(i)]
    candidates = list(
        Channel.objects.filter(Q(platform__in=platforms) | Q(id__in=valid_ids), workspace_id=service.workspace_id)
    )
    serving: dict[str, Channel | str] = {}
    for platform in platforms:
        if mapping.get(platform):
            channel = next((c for c in candidates if str(c.id) == str(mapping[platform])), None)
            if channel is None or channel.platform != platform:
                serving[platform] = f"the channel the service maps to {platform} does not exist in this workspace"
            elif channel.status != "active":
                serving[platform] = f"channel '{channel.name}' serving {platform} is inactive"
            else:
                serving[platform] = channel
            continue
        active = [c for c in candidates if c.platform == platform and c.status == "active"]
        if len(active) == 1:
            serving[platform] = active[0]
        elif not active:
            serving[platform] = f"no channel serves deliverychannel {platform}"
        else:
            serving[platform] = (
                f"several active {platform} channels; map one to {platform} in the service's channel map"
            )
    if not any(isinstance(v, Channel) for v in serving.values()):
        raise e.invalid("deliverychannel", "; ".join(str(v) for v in serving.values()))
    return serving


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _choose_channel(destination: Destination, platforms: list[str], serving: dict[str, Channel | str]) -> None:
    """The first delivery channel in order that is served and that the destination has an
    address for; its addresses of that kind are the ones messaged."""
    for platform in platforms:
        channel = serving[platform]
        if not isinstance(channel, Channel):
            continue
        addresses = _candidates(destination, platform)
        if addresses:
            destination.platform, destination.channel, destination.addresses = platform, channel, addresses
            return
    kinds = sorted({_param_name(k) for p in platforms for k in PLATFORM_KEYS.get(p, ADDRESS_KEYS.values())})
    unserved = [str(v) for v in serving.values() if not isinstance(v, Channel)]
    why = f" ({'; '.join(unserved)})" if unserved else ""
    raise e.invalid(
        f"destination[{destination.index}]",
        f"has no address for deliverychannel {','.join(platforms)}: give {' or '.join(kinds)}{why}",
    )


def _candidates(destination: Destination, platform: str) -> list[tuple[str, str]]:
    wanted = PLATFORM_KEYS.get(platform)
    out = [a for a in destination.addresses if wanted is None or a[0] in wanted]
    for phone, customerid in destination.either:
        if wanted is None:
            address = (K.PHONENUMBER, phone) if phone else (K.CUSTOMERID, customerid)
        elif K.PHONENUMBER in wanted:
            if phone is None:
                continue  # not a phone number: nothing to send an SMS to
            address = (K.PHONENUMBER, phone)
        elif K.CUSTOMERID in wanted:
            address = (K.CUSTOMERID, customerid)
        else:
            continue
        if address not in out:
            out.append(address)
    return out


def _param_name(identifier_key: str) -> str:
    return next(name for name, key in ADDRESS_KEYS.items() if key == identifier_key)


# --- content: channel blocks and templates ---------------------------------------------------


def _channels_block(value) -> dict:
    return _object(value, "channels") or {}


def _message_block(value) -> dict | None:
    block = _object(value, "message")
    if block is None:
        return None
    template = _string(block.get("template"), "message.template", 200, required=True)
    parameters = block.get("parameters")
    if parameters is not None and not isinstance(parameters, dict):
        raise e.invalid("message.parameters", "must be a JSON object of name: value")
    return {"template": template, "parameters": _wrap(lambda: tpl.parameters_to_dict(parameters, "message.parameters"))}


def _resolve_template(service: Service, message: dict | None) -> None:
    """Look the template up even when channel blocks override it, so a wrong id or name
    is reported rather than silently ignored; message["resolved"] keeps it for reuse."""
    if message is None:
        return
    ref = message["template"]
    ref_block = {"id": ref} if _is_uuid(ref) else {"name": ref}
    message["resolved"] = _wrap(lambda: tpl.resolve(service.workspace, ref_block, "message.template"))


def _content(service: Service, platform: str, channels: dict, message: dict | None) -> Content:
    """The channel block wins over the template (the seed); without either, 7003."""
    block = channels.get(platform)
    if block is not None:
        if not isinstance(block, dict):
            raise e.invalid(f"channels.{platform}", "must be a JSON object")
        content = _CHANNEL_PARSERS.get(platform, _text_channel)(block, f"channels.{platform}")
        if message is not None:
            content.body = _substituted(content.body, message["parameters"], platform)
        return content
    if message is not None:
        return _from_template(service, platform, message)
    required = {"sms": "channels.sms.text", "email": "channels.email", "appmessaging": "channels.appmessaging.message.text"}
    raise e.missing(required.get(platform, f"channels.{platform}.text"), f"is mandatory for deliverychannel {platform}")


def _text_channel(block: dict, name: str) -> Content:
    text = _string(block.get("text"), f"{name}.text", MAX_TEXT, required=True, numbers=False)
    return Content(body={"type": "text", "text": {"text": text}})


def _email_channel(block: dict, name: str) -> Content:
    subject = _string(block.get("subject"), f"{name}.subject", 998, required=True, numbers=False)
    _wrap(lambda: tpl.check_subject(subject, f"{name}.subject"))
    text = _string(block.get("text"), f"{name}.text", MAX_TEXT, numbers=False)
    html = _string(block.get("html"), f"{name}.html", MAX_TEXT * 10, numbers=False)
    if not text and not html:
        raise e.missing(f"{name}.text", "or html is mandatory")
    sender = {}
    sender_address = _string(block.get("from"), f"{name}.from", 320, numbers=False)
    if sender_address:
        value = _wrap(lambda: normalize(K.EMAILADDRESS, sender_address, "US", f"{name}.from"))
        sender = {"identifierKey": K.EMAILADDRESS.value, "identifierValue": value}
    if html:
        part = {"html": html, "metadata": {"subject": subject}}
        if text:
            part["text"] = text
        return Content(body={"type": "html", "html": part}, sender=sender)
    return Content(body={"type": "text", "text": {"text": text, "metadata": {"subject": subject}}}, sender=sender)


def _appmessaging_channel(block: dict, name: str) -> Content:
    message = _object(block.get("message"), f"{name}.message", required=True)
    text = _string(message.get("text"), f"{name}.message.text", MAX_TEXT, required=True, numbers=False)
    out_message: dict = {"text": text}
    if message.get("attachment") is not None:
        out_message["attachment"] = _attachment(message["attachment"], f"{name}.message.attachment")
    app = {
        "text": text,
        "message": out_message,
        "thread_type": _string(block.get("thread_type"), f"{name}.thread_type", 100, required=True),
        "thread_title": _string(block.get("thread_title"), f"{name}.thread_title", 500, required=True),
    }
    thread_id = _string(block.get("thread_id"), f"{name}.thread_id", 200)
    if thread_id:
        app["thread_id"] = thread_id
    if block.get("notification") is not None:
        app["notification"] = _notification(block["notification"], f"{name}.notification")
    return Content(body={"type": "appmessaging", "appmessaging": app})


def _attachment(value, name: str) -> dict:
    block = _object(value, name, required=True)
    kind = _string(block.get("contentType"), f"{name}.contentType", 100, required=True, numbers=False).strip().lower()
    if kind not in ATTACHMENT_KINDS and not MIME.match(kind):
        raise e.invalid(f"{name}.contentType", f"must be one of {', '.join(ATTACHMENT_KINDS)} or a MIME type")
    major = kind.split("/")[0]
    out: dict = {"contentType": kind}
    if kind == "location":
        for coordinate in ("latitude", "longitude"):
            out[coordinate] = _coordinate(block.get(coordinate), f"{name}.{coordinate}", coordinate)
    else:
        out["file"] = _url_value(block.get("file"), f"{name}.file")
    if block.get("size") not in (None, ""):
        out["size"] = _positive_int(block["size"], f"{name}.size")
    if major in ("audio", "video"):
        out["duration"] = _string(block.get("duration"), f"{name}.duration", 20, required=True)
    if major == "video":
        out["preview"] = _string(block.get("preview"), f"{name}.preview", 2_000_000, required=True, numbers=False)
    elif block.get("preview"):
        out["preview"] = _string(block["preview"], f"{name}.preview", 2_000_000, numbers=False)
    return out


def _coordinate(value, name: str, kind: str) -> str:
    text = _string(value, name, 32, required=True)
    limit = 90 if kind == "latitude" else 180
    try:
        number = float(text)
    except ValueError:
        raise e.invalid(name, "must be a number") from None
    if not -limit <= number <= limit:
        raise e.invalid(name, f"must be between -{limit} and {limit}")
    return text


def _notification(value, name: str) -> dict:
    block = _object(value, name, required=True)
    out = dict(block)  # extras pass through to the app as given
    out["title"] = _string(block.get("title"), f"{name}.title", 500, required=True, numbers=False)
    out["text"] = _string(block.get("text"), f"{name}.text", MAX_TEXT, required=True, numbers=False)
    for extras in EXTRAS:
        if block.get(extras) is not None:
            extra = _object(block[extras], f"{name}.{extras}")
            if extra.get("notificationaction") is not None:
                _notification_action(extra["notificationaction"], f"{name}.{extras}.notificationaction")
    if block.get("interactive") is not None:
        _interactive(block["interactive"], f"{name}.interactive")
    return out


def _notification_action(value, name: str) -> None:
    block = _object(value, name, required=True)
    action = _string(block.get("action"), f"{name}.action", 50, numbers=False)
    if action and action.upper() in ACTIONS_NEEDING_VALUE:
        _string(block.get("value"), f"{name}.value", 100_000, required=True, numbers=False)


def _interactive(value, name: str) -> None:
    block = _object(value, name, required=True)
    category = _string(block.get("category"), f"{name}.category", 50, required=True, numbers=False)
    if category not in INTERACTIVE_CATEGORIES:
        raise e.invalid(f"{name}.category", f"'{category}' is not one of the seed's categories (e.g. DOUBLE_YES_NO)")
    actions = block.get("actions")
    if actions in (None, []):
        raise e.missing(f"{name}.actions")
    if not isinstance(actions, list):
        raise e.invalid(f"{name}.actions", "must be a JSON array")
    for index, item in enumerate(actions):
        item_name = f"{name}.actions[{index}]"
        item = _object(item, item_name, required=True)
        if item.get("pos") in (None, ""):
            raise e.missing(f"{item_name}.pos")
        _positive_int(item["pos"], f"{item_name}.pos")
        action = _string(item.get("action"), f"{item_name}.action", 50, required=True, numbers=False)
        if action.upper() in ACTIONS_NEEDING_VALUE:
            _string(item.get("value"), f"{item_name}.value", 100_000, required=True, numbers=False)


_CHANNEL_PARSERS = {"email": _email_channel, "appmessaging": _appmessaging_channel}


def _substituted(body: dict, parameters: dict[str, str], platform: str) -> dict:
    """message.parameters also fill {{placeholders}} of a channel block's texts."""

    def fill(text: str, is_html: bool) -> str:
        if not tpl.PLACEHOLDER.search(text):
            return text
        return _wrap(lambda: tpl.substitute(text, parameters, "message.parameters", escape=is_html))

    return smartlinks.rewrite_texts(body, fill)


def _from_template(service: Service, platform: str, message: dict) -> Content:
    template, version, content = message["resolved"]
    rendered = _wrap(
        lambda: tpl.render_resolved(
            template, version, content, platform, message["parameters"], "message.template", "message.parameters"
        )
    )
    body = rendered.body
    if platform == "appmessaging" and body["type"] == "text":
        text = body["text"]["text"]
        body = {"type": "appmessaging", "appmessaging": {"text": text, "message": {"text": text}}}
    return Content(body=body, template=template, template_info=rendered.info)


# --- smart links -------------------------------------------------------------------------------


def _listed_smartlinks(value) -> list[tuple[int, int | None]]:
    if value in (None, []):
        return []
    if not isinstance(value, list):
        raise e.invalid("smartlinks", "must be a JSON array")
    if len(value) > MAX_SMARTLINKS:
        raise e.invalid("smartlinks", f"at most {MAX_SMARTLINKS} smart links per request")
    listed = []
    for index, item in enumerate(value):
        name = f"smartlinks[{index}]"
        item = _object(item, name, required=True)
        if item.get("linkid") in (None, ""):
            raise e.missing(f"{name}.linkid")
        linkid = _positive_int(item["linkid"], f"{name}.linkid")
        validity = None
        if item.get("validity") not in (None, ""):
            validity = _positive_int(item["validity"], f"{name}.validity")
        listed.append((linkid, validity))
    return listed
