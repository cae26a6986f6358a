"""Operator commands: chat-ops over the workspace's own channels (SPEC §5).

A message is a command when it starts with "/" and its sender is one of the workspace's
`operator_identifiers` (compared after normalising: E.164 numbers, lower-cased emails).
Anyone else's "/status" is an ordinary incoming message.

Every command, known or not, is answered over the channel it came in on and written to
BotCommandAudit. Answers are short and plain ASCII, so they fit an SMS or two.
"""

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from messaging.bot.replies import Outcome, Reply
from messaging.errors import DomainError
from messaging.models import (
    BotCommandAudit,
    Channel,
    Direction,
    IdentifierKey,
    Message,
    MessageEvent,
    MessagingEndpoint,
    Status,
    Workspace,
)
from messaging.services import dispatch
from messaging.services.identifiers import normalize_email, normalize_phone

log = logging.getLogger(__name__)

QUEUED = [Status.ACCEPTED, Status.SCHEDULED, Status.PROCESSING]
FAILED = [Status.SENDING_FAILED, Status.DELIVERY_FAILED, Status.EXPIRED]
WENT_OUT = [Status.SENT, Status.DELIVERED]
FAILED_LIST_SIZE = 10
# Which identifier each platform can reach; /send picks a channel by this.
PLATFORMS_FOR_KEY = {
    IdentifierKey.PHONENUMBER: ["sms", "whatsapp", "voice"],
    IdentifierKey.EMAILADDRESS: ["email"],
}

HELP = (
    "Commands: /status, /devices, /failed, /pause <channel>, /resume <channel>, "
    "/send <phone or email> <text>, /help"
)


@dataclass
class Context:
    message: Message
    workspace: Workspace
    channel: Channel
    operator: str
    now: datetime


@dataclass
class Result:
    text: str
    ok: bool = True


# --- who is an operator -------------------------------------------------------------------------


def _canonical(value: str, region: str) -> str:
    """Best-effort canonical form of a configured operator identifier (phone, email or id)."""
    value = str(value).strip()
    try:
        return normalize_email(value) if "@" in value else normalize_phone(value, region)
    except ValueError:
        return value


def is_operator(workspace: Workspace, identifier_value: str) -> bool:
    """Whether this (already normalised) sender identifier is one of the workspace's operators."""
    configured = workspace.operator_identifiers or []
    if not isinstance(configured, list) or not identifier_value:
        return False
    return any(_canonical(v, workspace.default_region) == identifier_value for v in configured if v)


def is_command(message: Message) -> bool:
    return message.text.lstrip().startswith("/") and is_operator(
        message.channel.workspace, message.sender.get("identifierValue", "")
    )


# --- running one ---------------------------------------------------------------------------------


def handle_command(message: Message) -> Outcome:
    """Run an operator's command, audit it, and answer over the same channel."""
    text = message.text.strip()
    name, _, args = text[1:].partition(" ")
    ctx = Context(
        message=message,
        workspace=message.channel.workspace,
        channel=message.channel,
        operator=message.sender["identifierValue"],
        now=timezone.now(),
    )
    result = _run(name.strip().lower(), args.strip(), ctx)
    BotCommandAudit.objects.create(
        workspace=ctx.workspace,
        channel=ctx.channel,
        message=message,
        operator=ctx.operator,
        command=text,
        result=result.text,
        ok=result.ok,
        at=ctx.now,
    )
    reply = Reply(
        channel=ctx.channel,
        identifier_key=message.sender["identifierKey"],
        identifier_value=ctx.operator,
        text=result.text,
        reply_to=message,
    )
    return Outcome(handled_as="command", replies=[reply])


def _run(name: str, args: str, ctx: Context) -> Result:
    command = COMMANDS.get(name)
    if command is None:
        return Result(f"Unknown command /{name}. {HELP}" if name else HELP, ok=False)
    try:
        # A savepoint: a command that fails half-way leaves nothing behind.
        with transaction.atomic():
            return command(args, ctx)
    except DomainError as exc:
        return Result(f"/{name} failed: {exc.message}", ok=False)
    except Exception:
        log.exception("operator command /%s failed", name)
        return Result(f"/{name} failed with an internal error; see the server log.", ok=False)


# --- the commands --------------------------------------------------------------------------------


def cmd_help(args: str, ctx: Context) -> Result:
    return Result(HELP)


def cmd_status(args: str, ctx: Context) -> Result:
    outgoing = Message.objects.filter(workspace=ctx.workspace, direction=Direction.OUTGOING)
    queued = outgoing.filter(status__in=QUEUED).count()
    since = ctx.now - timedelta(hours=1)
    recent = MessageEvent.objects.filter(
        message__workspace=ctx.workspace, message__direction=Direction.OUTGOING, at__gte=since
    )
    sent = recent.filter(status__in=WENT_OUT).values("message_id").distinct().count()
    failed = recent.filter(status__in=FAILED).values("message_id").distinct().count()
    endpoints = MessagingEndpoint.objects.filter(channel__workspace=ctx.workspace)
    online = endpoints.filter(connected=True).count()
    text = (
        f"Queue: {queued} waiting. Last hour: {sent} sent, {failed} failed. "
        f"Devices online: {online} of {endpoints.count()}."
    )
    paused = list(
        Channel.objects.filter(workspace=ctx.workspace, paused=True)
        .order_by("name")
        .values_list("name", flat=True)
    )
    if paused:
        text += f" Paused: {', '.join(paused)}."
    return Result(text)


def cmd_devices(args: str, ctx: Context) -> Result:
    endpoints = (
        MessagingEndpoint.objects.filter(channel__workspace=ctx.workspace)
        .select_related("channel")
        .order_by("channel__name", "name")
    )
    lines = [
        f"{e.name} ({e.channel.name}): {'online' if e.connected else 'offline'}, {e.connection_state}, "
        f"send {e.send_permission}, read {e.read_permission}, {_seen(e.last_seen_at, ctx.now)}"
        for e in endpoints
    ]
    return Result("\n".join(lines) if lines else "No devices registered.")


def cmd_failed(args: str, ctx: Context) -> Result:
    failed = (
        Message.objects.filter(workspace=ctx.workspace, direction=Direction.OUTGOING, status__in=FAILED)
        .select_related("channel")
        .order_by("-last_status_at", "-id")[:FAILED_LIST_SIZE]
    )
    lines = [
        f"{str(m.id)[:8]} {m.channel.name if m.channel else '-'}: {_short(m.reason or m.status)}"
        for m in failed
    ]
    if not lines:
        return Result("No failed messages.")
    return Result(f"Last {len(lines)} failed:\n" + "\n".join(lines))


def cmd_pause(args: str, ctx: Context) -> Result:
    return _set_paused(args, ctx, paused=True)


def cmd_resume(args: str, ctx: Context) -> Result:
    return _set_paused(args, ctx, paused=False)


def _set_paused(args: str, ctx: Context, *, paused: bool) -> Result:
    verb = "pause" if paused else "resume"
    if not args:
        return Result(f"Usage: /{verb} <channel name or id>", ok=False)
    channel = find_channel(ctx.workspace, args)
    if channel is None:
        return Result(f"No channel '{_short(args, 40)}'. Try /status for names.", ok=False)
    if channel.paused == paused:
        return Result(f"{channel.name} is already {'paused' if paused else 'running'}.")
    # The delivery engine's own switch: resuming wakes the workers on commit.
    dispatch.set_paused(channel, paused)
    if paused:
        return Result(f"Paused {channel.name}. Its messages wait until /resume {channel.name}.")
    return Result(f"Resumed {channel.name}. Waiting messages go out now.")


def find_channel(workspace: Workspace, name_or_id: str) -> Channel | None:
    """A channel of the workspace by exact name, name in any case, or id."""
    channels = Channel.objects.filter(workspace=workspace)
    found = channels.filter(name=name_or_id).first() or channels.filter(name__iexact=name_or_id).first()
    if found is None:
        try:
            found = channels.filter(pk=uuid.UUID(name_or_id)).first()
        except ValueError:
            return None
    return found


def cmd_send(args: str, ctx: Context) -> Result:
    to, _, text = args.partition(" ")
    text = text.strip()
    if not to or not text:
        return Result("Usage: /send <phone or email> <text>", ok=False)
    key = IdentifierKey.EMAILADDRESS if "@" in to else IdentifierKey.PHONENUMBER
    try:
        value = (
            normalize_email(to)
            if key == IdentifierKey.EMAILADDRESS
            else normalize_phone(to, ctx.workspace.default_region)
        )
    except ValueError as exc:
        return Result(f"Can't send: {exc}.", ok=False)
    channel = _channel_for(key, ctx)
    if channel is None:
        kind = "email" if key == IdentifierKey.EMAILADDRESS else "SMS"
        return Result(f"No active {kind} channel to send to {value} from.", ok=False)
    from messaging.services.send import send_text  # the send path imports far more than the bot needs

    sent = send_text(channel, key, value, text, actor=f"bot/{ctx.operator}"[:100])
    return Result(f"Queued to {value} on {channel.name} (id {str(sent.id)[:8]}).")


def _channel_for(key: str, ctx: Context) -> Channel | None:
    """The operator's own channel when it can reach `key`, else the workspace's first that can."""
    platforms = PLATFORMS_FOR_KEY[key]
    if ctx.channel.platform in platforms:
        return ctx.channel
    candidates = Channel.objects.filter(workspace=ctx.workspace, status="active", platform__in=platforms)
    # Prefer platforms in the order listed (SMS before WhatsApp), then the oldest channel.
    for platform in platforms:
        found = candidates.filter(platform=platform).order_by("created_at").first()
        if found is not None:
            return found
    return None


COMMANDS: dict[str, Callable[[str, Context], Result]] = {
    "status": cmd_status,
    "devices": cmd_devices,
    "failed": cmd_failed,
    "pause": cmd_pause,
    "resume": cmd_resume,
    "send": cmd_send,
    "help": cmd_help,
}


# --- formatting ----------------------------------------------------------------------------------


def _seen(at: datetime | None, now: datetime) -> str:
    if at is None:
        return "never seen"
    seconds = max(0, int((now - at).total_seconds()))
    if seconds < 60:
        return "seen just now"
    if seconds < 3600:
        return f"seen {seconds // 60}m ago"
    if seconds < 86400:
        return f"seen {seconds // 3600}h ago"
    return f"seen {at:%Y-%m-%d}"


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
