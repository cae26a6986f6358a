"""The one write path for outgoing messages (SPEC §3.1, seed 001).

Every dialect, the bot and the `sendmessage` command end here. A request in the canonical
API's camelCase shape is checked rule by rule (each failure names its field), turned into
a Message committed as `accepted` (or `scheduled`) together with its first MessageEvent,
and the dispatcher is nudged on commit. Later status changes go through services/status.py.

    accept_message(workspace, channel, data, actor="", **fields) -> Message
    accept_batch(workspace, channel, requests, actor="", per_request_fields=None, **fields) -> list[Message]
    send_text(channel, identifier_key, identifier_value, text, actor="", reply_to=None, **fields) -> Message
    cancel_message(message, actor="") -> Message

`**fields` are further Message model fields a dialect sets directly (service, notify_url,
callback_data, transid, correlationid, conversation, reply_to, external_id, endpoint,
priority); anything else is a programming error (TypeError).
"""

import logging
import re
import uuid
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, connection, transaction
from django.db.models import prefetch_related_objects
from django.utils import timezone

from messaging.db import insert_prepared, insert_rows, insert_together, pipelined, prepare_instances
from messaging.errors import Conflict, Inactive, NotFound, ValidationFailed
from messaging.models import (
    Channel,
    Contact,
    ContactIdentifier,
    Direction,
    Message,
    MessageEvent,
    ShortLink,
    Status,
    Tag,
    Workspace,
)
from messaging.services import dispatch, smartlinks, webhooks
from messaging.services import templates as tpl
from messaging.services.contacts import contacts_for, existing_contact_id
from messaging.services.identifiers import normalize
from messaging.services.media import CONTENT_TYPE_RE
from messaging.services.status import transition
from messaging.signals import StatusChange, publish_status_changes

MAX_TAGS = 10
MAX_TAG_LENGTH = 100
MAX_REFERENCE = 200
MAX_RECEIVERS = 50  # email only; other platforms take exactly one
MAX_SCHEDULE_AHEAD = timedelta(days=35)
MAX_VALIDITY = 365 * 86400
MAX_TEXT = 100_000
MAX_ATTACHMENTS = 10
BODY_TYPES = ("text", "image", "file", "html")
MARKETING = "marketing"
# The identifier each platform delivers to, in order of preference. A receiver given by
# another identifier (or by contact id) is sent to the contact's identifier of this kind.
PLATFORM_IDENTIFIER_KEYS: dict[str, tuple[str, ...]] = {
    "sms": ("phonenumber",),
    "whatsapp": ("phonenumber",),
    "voice": ("phonenumber",),
    "email": ("emailaddress",),
    "appmessaging": ("userid", "customerid"),
    "push": ("userid", "customerid"),
}
EXTRA_FIELDS = frozenset(
    {
        "service",
        "notify_url",
        "callback_data",
        "transid",
        "correlationid",
        "conversation",
        "reply_to",
        "external_id",
        "endpoint",
        "priority",
    }
)
ACTOR_MAX = 100
EVENT_FIELDS = ["message", "status", "reason", "actor", "at"]
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")
_url = URLValidator(schemes=["http", "https"])
log = logging.getLogger(__name__)


# --- public API ------------------------------------------------------------------------


def accept_message(workspace: Workspace, channel: Channel, data: dict, actor: str = "", **fields) -> Message:
    """Validate one send request and commit it as an `accepted` (or `scheduled`) message."""
    return _accept(workspace, channel, [data], actor, [fields], prefix=lambda i: "")[0]


def accept_batch(
    workspace: Workspace,
    channel: Channel,
    requests: list[dict],
    actor: str = "",
    per_request_fields: list[dict] | None = None,
    **fields,
) -> list[Message]:
    """Accept several requests in one transaction: all of them, or none (an error names
    `messageRequests[i].<field>`). `fields` apply to every message, `per_request_fields[i]`
    to the i-th only."""
    if not isinstance(requests, list) or not requests:
        raise ValidationFailed.field("messageRequests", "give at least one message request")
    per = per_request_fields or [{} for _ in requests]
    if len(per) != len(requests):
        raise TypeError("per_request_fields must have one entry per request")
    extras = [{**fields, **item} for item in per]
    return _accept(workspace, channel, requests, actor, extras, prefix=lambda i: f"messageRequests[{i}].")


def send_text(
    channel: Channel,
    identifier_key: str,
    identifier_value: str,
    text: str,
    actor: str = "",
    reply_to: Message | None = None,
    **fields,
) -> Message:
    """A plain text message to one identifier (the bot, `sendmessage`, simple dialects)."""
    data = {
        "receiver": {"contacts": [{"identifierKey": identifier_key, "identifierValue": identifier_value}]},
        "body": {"type": "text", "text": {"text": text}},
    }
    if reply_to is not None:
        fields["reply_to"] = reply_to
    return accept_message(channel.workspace, channel, data, actor=actor, **fields)


def cancel_message(message: Message, actor: str = "") -> Message:
    """`scheduled` or `accepted` → `canceled`; any other status is a Conflict (409)."""
    cancelable = (Status.SCHEDULED, Status.ACCEPTED)
    if message.direction != Direction.OUTGOING or message.status not in cancelable:
        raise Conflict(
            f"Only scheduled or accepted outgoing messages can be canceled; this message is {message.status}."
        )
    if not transition(message, Status.CANCELED, reason="Canceled on request.", actor=actor[:ACTOR_MAX]):
        # The dispatcher took it in the meantime.
        message.refresh_from_db(fields=["status", "reason", "last_status_at", "updated_at"])
        raise Conflict(f"The message can no longer be canceled; it is {message.status}.")
    message.updated_at = message.last_status_at
    return message


@dataclass
class Outgoing:
    """One message for accept_prepared(): a dialect that validated its own request (the 002
    dialect) says which channel, which address (identifier key, normalised value) and
    which body; `fields` are further Message fields (PREPARED_FIELDS)."""

    channel: Channel
    address: tuple[str, str]
    body: dict
    fields: dict


PREPARED_FIELDS = EXTRA_FIELDS | {"validity", "expires_at", "template", "template_info", "sender", "reference"}


def accept_prepared(
    workspace: Workspace, items: list[Outgoing], actor: str = "", links: "smartlinks.Plan | None" = None
) -> list[Message]:
    """Commit many already-validated messages (one address each) in one transaction with a
    constant number of queries: contacts by bulk lookup and bulk create, then bulk inserts
    of messages, receiver links, short links and first events. `links` are the smart links
    the request uses, expanded per message (each recipient gets its own short URL)."""
    for channel in {item.channel.id: item.channel for item in items}.values():
        _check_channel(workspace, channel)
    for item in items:
        unknown = set(item.fields) - PREPARED_FIELDS
        if unknown:
            raise TypeError(f"unknown Message fields: {', '.join(sorted(unknown))}")
    now = timezone.now()
    with transaction.atomic():
        owners = contacts_for(workspace, {item.address for item in items})
        messages = [_prepared_message(workspace, item, owners[item.address], now) for item in items]
        short_links = [row for m in messages for row in smartlinks.expand(m, links, now)] if links else []
        Message.objects.bulk_create(messages)
        ShortLink.objects.bulk_create(short_links)
        ContactLink = Message.contacts.through
        ContactLink.objects.bulk_create([ContactLink(message_id=m.id, contact_id=m.contact_id) for m in messages])
        MessageEvent.objects.bulk_create(
            [MessageEvent(message_id=m.id, status=m.status, actor=actor[:ACTOR_MAX], at=now) for m in messages]
        )
        publish_status_changes(
            [StatusChange(m.id, workspace.id, m.channel_id, m.status, "", now, notify=_notify(m)) for m in messages]
        )
        transaction.on_commit(lambda: dispatch.request_dispatch())
    return messages


def _prepared_message(workspace: Workspace, item: Outgoing, contact_id, now: datetime) -> Message:
    key, value = item.address
    fields = dict(item.fields)
    validity = fields.pop("validity", None) or item.channel.default_validity
    fields.setdefault("expires_at", now + timedelta(seconds=validity))
    return Message(
        workspace_id=workspace.id,
        channel=item.channel,
        direction=Direction.OUTGOING,
        receiver={"contacts": [{"id": str(contact_id), "identifierKey": key, "identifierValue": value}]},
        contact_id=contact_id,
        body=item.body,
        validity=validity,
        status=Status.ACCEPTED,
        due_at=now,
        last_status_at=now,
        created_at=now,
        updated_at=now,
        **fields,
    )


def parse_rfc3339(value, field: str) -> datetime:
    """An RFC 3339 timestamp with its offset (e.g. 2025-01-31T09:00:00Z); naming `field` otherwise."""
    if isinstance(value, datetime):
        if timezone.is_naive(value):
            raise ValidationFailed.field(field, "must include a time zone offset (RFC 3339)")
        return value
    if not isinstance(value, str) or not RFC3339.match(value.strip()):
        raise ValidationFailed.field(field, "must be an RFC 3339 timestamp like 2025-01-31T09:00:00Z")
    text = value.strip().replace("t", "T").replace("z", "Z").replace("Z", "+00:00")
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise ValidationFailed.field(field, "is not a valid date and time") from None


# --- the transaction -------------------------------------------------------------------


@dataclass
class _Prepared:
    message: Message
    contact_ids: list  # contact ids; a NewContact where the receiver is not a contact yet
    tag_names: list[str]


class NewContact(tuple):
    """A receiver seen for the first time, by its (identifier key, normalised value): its
    contact is created inside the write transaction (_create_receivers)."""

    __slots__ = ()


def _accept(
    workspace: Workspace,
    channel: Channel,
    requests: list[dict],
    actor: str,
    extras: list[dict],
    prefix: Callable[[int], str],
) -> list[Message]:
    """Check and prepare every request first, reading what they need (channel rules,
    templates, existing contacts, smart links); then one short write transaction: new
    receiver contacts, the messages, their links and first events. On SQLite the write
    transaction holds the database's one write lock, so everything that can happen before
    it does (bench/send.py: the lock was held ~3 ms per send when the checks ran inside)."""
    _check_channel(workspace, channel)
    for attempt in (1, 2):
        now = timezone.now()
        prepared = []
        for index, data in enumerate(requests):
            try:
                prepared.append(_prepare(workspace, channel, data, now, dict(extras[index])))
            except ValidationFailed as exc:
                raise _prefixed(exc, prefix(index)) from None
        messages = [p.message for p in prepared]
        # {smartlink:N} tokens and tracked links (shortLinks / enableLinkTracking) rewrite
        # the bodies before they are stored; their ShortLink rows follow the messages.
        short_links = smartlinks.prepare_canonical(workspace, messages, now)
        rows = prepare_instances(messages)  # converted before the write lock is taken
        subscriptions = webhooks.subscriptions_of(workspace)  # for the webhook listener, kept per process
        events = [(m.id, m.status, "", actor[:ACTOR_MAX], now) for m in messages]
        one_statement = _fits_one_statement(prepared, short_links)
        try:
            with nullcontext() if one_statement else transaction.atomic():
                if one_statement:  # PostgreSQL, known receivers: atomic by itself, no BEGIN/COMMIT
                    insert_together(
                        rows,
                        (Message.contacts.through, ["message", "contact"], _receiver_links(prepared)),
                        (MessageEvent, EVENT_FIELDS, events),
                    )
                else:
                    with pipelined():  # PostgreSQL: the inserts in one round trip
                        if _create_receivers(workspace, prepared):
                            rows = prepare_instances(messages)  # new receivers' contact ids went in
                        insert_prepared(rows)
                        if short_links:
                            ShortLink.objects.bulk_create(short_links)
                        _link(workspace, prepared)
                        insert_rows(MessageEvent, EVENT_FIELDS, events)
                # Outside a transaction (one statement) these run at once, else on commit.
                publish_status_changes(
                    [StatusChange(m.id, workspace.id, channel.id, m.status, "", now, notify=_notify(m)) for m in messages],
                    webhook_subscriptions=subscriptions,
                )
                # Called by attribute on commit so the delivery engine's implementation is the one used.
                # Not for a paused channel: a dispatcher would find nothing to send, and every send
                # would wake one (resuming asks for a dispatch; the sweeper looks every ~30 s too).
                if not channel.paused:
                    transaction.on_commit(lambda: dispatch.request_dispatch())
            break
        except IntegrityError:
            # A receiver contact found by the checks was deleted before the transaction:
            # check again (it is then created anew, or its id is reported missing).
            if attempt == 2:
                raise
            log.info("a receiver contact of a send in workspace %s went away meanwhile; checking again", workspace.id)
    if any(p.tag_names for p in prepared):
        prefetch_related_objects(messages, "tags")
    else:  # no tags were asked for, so none exist yet: no query needed to say so
        for message in messages:
            message._prefetched_objects_cache = {"tags": _no_tags()}
    return messages


def _notify(message: Message) -> bool:
    """Whether the message may have a seed-002 notify target (see messaging.notify)."""
    return bool(message.service_id or message.notify_url)


def _no_tags():
    """An evaluated empty Tag queryset, as a prefetch leaves it (iterating a fresh
    `Tag.objects.none()` compiles a query first: ~10% of a send's CPU, bench/send.py)."""
    tags = Tag.objects.none()
    tags._result_cache, tags._prefetch_done = [], True
    return tags


def _create_receivers(workspace: Workspace, prepared: list[_Prepared]) -> bool:
    """Inside the write transaction: contacts for the receivers seen for the first time
    (looked up again first: another send may have created them meanwhile), their ids put
    in place in each message. True if there were any (the messages changed)."""
    new = {c for p in prepared for c in p.contact_ids if isinstance(c, NewContact)}
    if not new:
        return False
    owners = contacts_for(workspace, set(new))
    for p in prepared:
        ids, stored = [], []
        for contact_id, entry in zip(p.contact_ids, p.message.receiver["contacts"], strict=True):
            if isinstance(contact_id, NewContact):
                contact_id = owners[contact_id]
                entry["id"] = str(contact_id)
            if contact_id not in ids:  # the same person twice gets one copy
                ids.append(contact_id)
                stored.append(entry)
        p.contact_ids = ids
        p.message.receiver["contacts"] = stored
        p.message.contact_id = ids[0]
    return True


def _fits_one_statement(prepared: list[_Prepared], short_links: list) -> bool:
    """Whether the send's rows can go in as one statement (db.insert_together): on
    PostgreSQL, when every receiver is a known contact (a new one is created inside a
    transaction first) and there are no short links or tags to add as well."""
    return (
        connection.vendor == "postgresql"
        and not short_links
        and not any(p.tag_names for p in prepared)
        and not any(isinstance(c, NewContact) for p in prepared for c in p.contact_ids)
    )


def _receiver_links(prepared: list[_Prepared]) -> list[tuple]:
    return [(p.message.id, c) for p in prepared for c in p.contact_ids]


def _link(workspace: Workspace, prepared: list[_Prepared]) -> None:
    """Receiver contacts and tags, as bulk inserts into the many-to-many tables."""
    insert_rows(Message.contacts.through, ["message", "contact"], _receiver_links(prepared))
    names = {name for p in prepared for name in p.tag_names}
    if not names:
        return
    tags = _ensure_tags(workspace, names)
    TagLink = Message.tags.through
    TagLink.objects.bulk_create([TagLink(message_id=p.message.id, tag_id=tags[n].id) for p in prepared for n in p.tag_names])


def _ensure_tags(workspace: Workspace, names: set[str]) -> dict[str, Tag]:
    """Tags by name, created on first use; a concurrent creator of the same tag is harmless."""
    existing = {t.name: t for t in Tag.objects.filter(workspace=workspace, name__in=names)}
    missing = names - existing.keys()
    if missing:
        Tag.objects.bulk_create([Tag(workspace=workspace, name=n) for n in sorted(missing)], ignore_conflicts=True)
        existing = {t.name: t for t in Tag.objects.filter(workspace=workspace, name__in=names)}
    return existing


def _check_channel(workspace: Workspace, channel: Channel) -> None:
    if channel.workspace_id != workspace.id:
        raise NotFound("No such channel in this workspace.")
    if channel.status != "active":
        raise Inactive(f"Channel '{channel.name}' is inactive; activate it before sending.")


def _prefixed(exc: ValidationFailed, prefix: str) -> ValidationFailed:
    if not prefix:
        return exc
    details = {f"{prefix}{field}": problems for field, problems in exc.details.items()}
    return ValidationFailed(f"{prefix}{exc.message}", details)


# --- one request ---------------------------------------------------------------------------


def _prepare(workspace: Workspace, channel: Channel, data: dict, now: datetime, extra: dict) -> _Prepared:
    """Check every rule of one request, in the order a client would fix them, then create
    (or find) its contacts last so a rejected request leaves no rows behind."""
    if not isinstance(data, dict):
        raise ValidationFailed.field("body", "each message request must be an object")
    unknown = set(extra) - EXTRA_FIELDS
    if unknown:
        raise TypeError(f"unknown Message fields: {', '.join(sorted(unknown))}")
    has_body, has_template = data.get("body") not in (None, {}), data.get("template") not in (None, {})
    if has_body == has_template:
        problem = "give either body or template, not both" if has_body else "give a body or a template"
        raise ValidationFailed.field("body", problem)

    body = check_body(data["body"], channel.platform) if has_body else None
    meta, use_case = _check_meta(data.get("meta"))
    tag_names = check_tags(data.get("tags"))
    scheduled_for = _check_schedule(data.get("scheduledFor"), now)
    validity = _check_validity(data.get("validity"), channel)
    reference = _check_string(data.get("reference"), "reference", MAX_REFERENCE)
    flags = {
        name: _check_bool(data.get(key), key)
        for name, key in (
            ("enable_link_tracking", "enableLinkTracking"),
            ("cap_frequency", "capFrequency"),
            ("ignore_quiet_hours", "ignoreQuietHours"),
            ("ignore_global_holdout", "ignoreGlobalHoldout"),
        )
    }
    if flags["cap_frequency"] and use_case != MARKETING:
        raise ValidationFailed.field(
            "capFrequency", "can only be true for a contact receiver when meta.extraInformation.useCase is marketing"
        )
    priority = _check_priority(extra.pop("priority", data.get("priority")))
    short_links = _check_short_links(data.get("shortLinks"))
    sender = data.get("sender") or {}
    if not isinstance(sender, dict):
        raise ValidationFailed.field("sender", "must be an object")

    template, template_info = None, {}
    if has_template:
        rendered = tpl.render(workspace, channel.platform, data["template"])
        template, template_info, body = rendered.template, rendered.info, rendered.body

    contact_ids, receivers = _resolve_receivers(workspace, channel, data.get("receiver"))
    start = scheduled_for or now
    message = Message(
        workspace=workspace,
        channel=channel,
        direction=Direction.OUTGOING,
        sender=sender,
        receiver={"contacts": receivers},
        contact_id=None if isinstance(contact_ids[0], NewContact) else contact_ids[0],
        body=body,
        template=template,
        template_info=template_info,
        reference=reference,
        meta=meta,
        use_case=use_case,
        short_links=short_links,
        scheduled_for=scheduled_for,
        validity=validity,
        expires_at=start + timedelta(seconds=validity),
        priority=priority,
        status=Status.SCHEDULED if scheduled_for else Status.ACCEPTED,
        due_at=start,
        last_status_at=now,
        created_at=now,
        updated_at=now,
        **flags,
        **extra,
    )
    return _Prepared(message=message, contact_ids=contact_ids, tag_names=tag_names)


# --- field rules -------------------------------------------------------------------------------


def check_body(body, platform: str) -> dict:
    """A body in one of the seed's shapes, keeping only the keys it defines."""
    if not isinstance(body, dict):
        raise ValidationFailed.field("body", "must be an object")
    kind = body.get("type")
    if kind not in BODY_TYPES:
        raise ValidationFailed.field("body.type", f"must be one of {', '.join(BODY_TYPES)}")
    if kind == "html" and platform != "email":
        raise ValidationFailed.field("body.type", f"html bodies are only possible on the email platform, not {platform}")
    block = body.get(kind)
    if not isinstance(block, dict):
        raise ValidationFailed.field(f"body.{kind}", f"is required for a {kind} body")
    return {"type": kind, kind: _BODY_CHECKS[kind](block, f"body.{kind}")}


def _text_block(block: dict, field: str) -> dict:
    out = {"text": _check_string(block.get("text"), f"{field}.text", MAX_TEXT, required=True)}
    subject = _subject(block.get("metadata"), f"{field}.metadata", required=False)
    if subject:
        out["metadata"] = {"subject": subject}
    return out


def _image_block(block: dict, field: str) -> dict:
    images = _check_list(block.get("images"), f"{field}.images")
    out_images = []
    for index, image in enumerate(images):
        item = f"{field}.images[{index}]"
        if not isinstance(image, dict):
            raise ValidationFailed.field(item, "must be an object")
        entry = {"mediaUrl": _check_url(image.get("mediaUrl"), f"{item}.mediaUrl")}
        if image.get("altText") not in (None, ""):
            entry["altText"] = _check_string(image["altText"], f"{item}.altText", 1000)
        out_images.append(entry)
    out: dict = {"images": out_images}
    if block.get("text") not in (None, ""):
        out["text"] = _check_string(block["text"], f"{field}.text", MAX_TEXT)
    return out


def _file_block(block: dict, field: str) -> dict:
    files = _check_list(block.get("files"), f"{field}.files")
    out_files = []
    for index, item in enumerate(files):
        name = f"{field}.files[{index}]"
        if not isinstance(item, dict):
            raise ValidationFailed.field(name, "must be an object")
        content_type = _check_string(item.get("contentType"), f"{name}.contentType", 100, required=True).lower()
        if not CONTENT_TYPE_RE.match(content_type):
            raise ValidationFailed.field(f"{name}.contentType", "must be a media type like application/pdf")
        out_files.append(
            {
                "mediaUrl": _check_url(item.get("mediaUrl"), f"{name}.mediaUrl"),
                "contentType": content_type,
                "filename": _check_string(item.get("filename"), f"{name}.filename", 255, required=True),
            }
        )
    return {"files": out_files}


def _html_block(block: dict, field: str) -> dict:
    out = {
        "html": _check_string(block.get("html"), f"{field}.html", MAX_TEXT * 10, required=True),
        "metadata": {"subject": _subject(block.get("metadata"), f"{field}.metadata", required=True)},
    }
    if block.get("text") not in (None, ""):
        out["text"] = _check_string(block["text"], f"{field}.text", MAX_TEXT)
    return out


_BODY_CHECKS: dict[str, Callable[[dict, str], dict]] = {
    "text": _text_block,
    "image": _image_block,
    "file": _file_block,
    "html": _html_block,
}


def _subject(metadata, field: str, required: bool) -> str:
    if metadata is None or metadata == {}:
        if required:
            raise ValidationFailed.field(f"{field}.subject", "is required")
        return ""
    if not isinstance(metadata, dict):
        raise ValidationFailed.field(field, "must be an object")
    subject = _check_string(metadata.get("subject"), f"{field}.subject", 998, required=required)
    if "\r" in subject or "\n" in subject:  # one header line: a CR/LF would be header injection
        raise ValidationFailed.field(f"{field}.subject", "must be one line: an email subject may not contain line breaks")
    return subject


def check_tags(tags) -> list[str]:
    """Lower-cased, de-duplicated, at most 10."""
    if tags in (None, []):
        return []
    if not isinstance(tags, list):
        raise ValidationFailed.field("tags", "must be a list of strings")
    names: list[str] = []
    for index, tag in enumerate(tags):
        if not isinstance(tag, str) or not tag.strip():
            raise ValidationFailed.field(f"tags[{index}]", "must be a non-empty string")
        name = tag.strip().lower()
        if len(name) > MAX_TAG_LENGTH:
            raise ValidationFailed.field(f"tags[{index}]", f"must be at most {MAX_TAG_LENGTH} characters")
        if name not in names:
            names.append(name)
    if len(names) > MAX_TAGS:
        raise ValidationFailed.field("tags", f"at most {MAX_TAGS} tags per message (got {len(names)})")
    return names


def _check_meta(meta) -> tuple[dict, str]:
    if meta in (None, {}):
        return {}, ""
    if not isinstance(meta, dict):
        raise ValidationFailed.field("meta", "must be an object")
    extra = meta.get("extraInformation")
    if extra is None:
        return dict(meta), ""
    if not isinstance(extra, dict):
        raise ValidationFailed.field("meta.extraInformation", "must be an object")
    use_case = _check_string(extra.get("useCase"), "meta.extraInformation.useCase", 30)
    return dict(meta), use_case.lower()


def _check_schedule(value, now: datetime) -> datetime | None:
    """None when not scheduled: absent, or a time already past (sent at once)."""
    if value in (None, ""):
        return None
    when = parse_rfc3339(value, "scheduledFor")
    if when <= now:
        return None
    if when - now > MAX_SCHEDULE_AHEAD:
        raise ValidationFailed.field("scheduledFor", f"must be at most {MAX_SCHEDULE_AHEAD.days} days ahead")
    return when


def _check_validity(value, channel: Channel) -> int:
    if value in (None, ""):
        return channel.default_validity
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationFailed.field("validity", "must be a positive number of seconds")
    if value > MAX_VALIDITY:
        raise ValidationFailed.field("validity", f"must be at most {MAX_VALIDITY} seconds (a year)")
    return value


def _check_priority(value) -> int:
    if value in (None, ""):
        return 2
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 3:
        raise ValidationFailed.field("priority", "must be 1, 2 or 3")
    return value


def _check_short_links(value) -> dict | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValidationFailed.field("shortLinks", "must be an object")
    out = {"enabled": _check_bool(value.get("enabled"), "shortLinks.enabled")}
    if value.get("domain") not in (None, ""):
        out["domain"] = _check_string(value["domain"], "shortLinks.domain", 253)
    return out


def _check_bool(value, field: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ValidationFailed.field(field, "must be true or false")
    return value


def _check_string(value, field: str, max_length: int, required: bool = False) -> str:
    if value is None or value == "":
        if required:
            raise ValidationFailed.field(field, "is required")
        return ""
    if not isinstance(value, str):
        raise ValidationFailed.field(field, "must be a string")
    if required and not value.strip():
        raise ValidationFailed.field(field, "may not be blank")
    if len(value) > max_length:
        raise ValidationFailed.field(field, f"must be at most {max_length} characters")
    return value


def _check_list(value, field: str) -> list:
    if not isinstance(value, list) or not value:
        raise ValidationFailed.field(field, "give at least one")
    if len(value) > MAX_ATTACHMENTS:
        raise ValidationFailed.field(field, f"at most {MAX_ATTACHMENTS} per message")
    return value


def _check_url(value, field: str) -> str:
    value = _check_string(value, field, 2000, required=True)
    try:
        _url(value)
    except DjangoValidationError:
        raise ValidationFailed.field(field, "must be an http(s) URL") from None
    return value


# --- receivers -----------------------------------------------------------------------------------


def _resolve_receivers(workspace: Workspace, channel: Channel, receiver) -> tuple[list, list[dict]]:
    """The receiver contacts' ids (a NewContact for one not created yet) and what
    Message.receiver stores (its "id" filled in once the contact exists)."""
    entries = receiver.get("contacts") if isinstance(receiver, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ValidationFailed.field("receiver.contacts", "give at least one contact")
    if len(entries) > 1 and channel.platform != "email":
        raise ValidationFailed.field(
            "receiver.contacts",
            f"several receivers are only possible on the email platform; this channel is {channel.platform}",
        )
    if len(entries) > MAX_RECEIVERS:
        raise ValidationFailed.field("receiver.contacts", f"at most {MAX_RECEIVERS} receivers per message")
    contact_ids: list = []
    stored: list[dict] = []
    for index, entry in enumerate(entries):
        contact_id, address = _resolve_one(workspace, channel.platform, entry, f"receiver.contacts[{index}]")
        if contact_id in contact_ids:
            continue  # the same person twice gets one copy
        contact_ids.append(contact_id)
        stored.append({"id": None if isinstance(contact_id, NewContact) else str(contact_id), **address})
    return contact_ids, stored


def _resolve_one(workspace: Workspace, platform: str, entry, field: str) -> tuple[object, dict]:
    if not isinstance(entry, dict):
        raise ValidationFailed.field(field, "must be an object")
    if entry.get("id") not in (None, ""):
        contact = _contact_by_id(workspace, entry["id"], f"{field}.id")
        return contact.id, _address_for(contact.id, platform, None, field)
    key = entry.get("identifierKey")
    if key in (None, ""):
        raise ValidationFailed.field(f"{field}.identifierKey", "give identifierKey and identifierValue, or id")
    value = normalize(key, entry.get("identifierValue"), workspace.default_region, field=f"{field}.identifierValue")
    contact_id = existing_contact_id(workspace, key, value) or NewContact((key, value))
    return contact_id, _address_for(contact_id, platform, (key, value), field)


def _contact_by_id(workspace: Workspace, raw, field: str) -> Contact:
    try:
        contact_id = uuid.UUID(str(raw))
    except ValueError:
        raise ValidationFailed.field(field, "is not a valid contact id") from None
    contact = Contact.objects.filter(workspace=workspace, id=contact_id).first()
    if contact is None:
        raise ValidationFailed.field(field, "no contact with this id in this workspace")
    return contact


def _address_for(contact_id, platform: str, given: tuple[str, str] | None, field: str) -> dict:
    """The identifier the platform delivers to: the given one when it fits the platform,
    else the contact's own identifier of the platform's kind."""
    wanted = PLATFORM_IDENTIFIER_KEYS.get(platform)
    if given and (wanted is None or given[0] in wanted):
        return {"identifierKey": given[0], "identifierValue": given[1]}
    if isinstance(contact_id, NewContact):  # its one identifier will be the given one
        rows = {given[0]: given[1]}
    else:
        rows = dict(ContactIdentifier.objects.filter(contact_id=contact_id).values_list("key", "value"))
    for key in wanted or tuple(rows):
        if key in rows:
            return {"identifierKey": key, "identifierValue": rows[key]}
    if wanted is None:
        return {}
    raise ValidationFailed.field(field, f"the contact has no {' or '.join(wanted)} identifier for the {platform} platform")
