"""Sending rules the dispatcher applies to a claimed message just before it is sent.

Seed 001: validity (expired), quiet hours (marketing messages wait for the end of the
workspace's quiet period unless `ignoreQuietHours`), frequency caps (`capFrequency` with the
workspace's cap), global holdout (marketing messages unless `ignoreGlobalHoldout`), and the
contact's opt-out of the channel's platform.

Every function takes `now`, so tests freeze time by passing it; none of them writes.
`decide()` answers for a whole batch with one extra query (the frequency-cap counts).
"""

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db.models import Count

from messaging.models import Contact, Message, MessageEvent, Status, Workspace

MARKETING = "marketing"
# Messages that must reach a contact even after an opt-out: the bot's confirmation of that
# very opt-out ("you will receive no more messages") is the one compliance requires.
OPT_OUT_EXEMPT_USE_CASES = {"compliance"}

REASON_EXPIRED = "validity expired before the message could be sent"
REASON_OPTED_OUT = "opted_out"
REASON_HOLDOUT = "global_holdout"
REASON_FREQUENCY_CAP = "frequency_cap"
REASON_QUIET_HOURS = "quiet hours"

SEND = "send"
EXPIRE = "expire"
SKIP = "skip"
DEFER = "defer"


@dataclass(frozen=True)
class Decision:
    action: str  # SEND, EXPIRE, SKIP or DEFER
    reason: str = ""
    until: datetime | None = None  # DEFER: when the message may go


def is_marketing(message: Message) -> bool:
    return (message.use_case or "").lower() == MARKETING


def is_expired(message: Message, now: datetime) -> bool:
    return message.expires_at is not None and now > message.expires_at


def workspace_zone(workspace: Workspace) -> ZoneInfo:
    try:
        return ZoneInfo(workspace.timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def quiet_period_end(workspace: Workspace, now: datetime) -> datetime | None:
    """When the quiet period `now` falls in ends (aware), or None outside quiet hours.

    Quiet hours are wall-clock times in the workspace's timezone; `start > end` means the
    period crosses midnight (22:00-07:00). `start == end` is read as "no quiet hours".
    """
    start, end = workspace.quiet_hours_start, workspace.quiet_hours_end
    if start is None or end is None or start == end:
        return None
    zone = workspace_zone(workspace)
    local = now.astimezone(zone)
    clock = local.time().replace(tzinfo=None)
    if start < end:
        inside = start <= clock < end
        end_day = local.date()
    else:
        inside = clock >= start or clock < end
        end_day = local.date() + timedelta(days=1) if clock >= start else local.date()
    if not inside:
        return None
    return _local_datetime(end_day, end, zone)


def _local_datetime(day, clock: time, zone: ZoneInfo) -> datetime:
    # fold=0 and a normalising round trip: a wall time skipped by a DST jump maps forward.
    naive = datetime.combine(day, clock.replace(tzinfo=None))
    return naive.replace(tzinfo=zone).astimezone(ZoneInfo("UTC"))


def is_opted_out(contact: Contact | None, platform: str) -> bool:
    if contact is None:
        return False
    return platform.lower() in {str(p).lower() for p in (contact.opt_outs or [])}


def sent_marketing_counts(contact_ids: set, since: datetime) -> Counter:
    """Marketing messages each contact was sent since `since` (one query for a batch)."""
    if not contact_ids:
        return Counter()
    rows = (
        MessageEvent.objects.filter(
            status=Status.SENT,
            at__gte=since,
            message__contact_id__in=contact_ids,
            message__use_case__iexact=MARKETING,
        )
        .values("message__contact_id")
        .annotate(n=Count("message_id", distinct=True))
    )
    return Counter({row["message__contact_id"]: row["n"] for row in rows})


def decide(messages: list[Message], now: datetime) -> dict:
    """A Decision per message id. Messages need `channel`, `workspace` and `contact` loaded.

    Order: validity, opt-out, holdout, quiet hours, frequency cap. Quiet hours come before
    the cap because a deferred message is counted when it is actually sent, not now.
    Messages approved earlier in the same batch count towards the cap of later ones.
    """
    decisions: dict = {}
    counts = Counter()
    by_period: dict[int, set] = {}
    for m in messages:
        if _cap_applies(m):
            by_period.setdefault(m.workspace.frequency_cap_period_seconds, set()).add(m.contact_id)
    for period, contact_ids in by_period.items():  # contacts belong to one workspace: no overlap
        counts.update(sent_marketing_counts(contact_ids, now - timedelta(seconds=period)))
    for message in messages:
        decision = _decide_one(message, now, counts)
        if decision.action == SEND and _cap_applies(message):
            counts[message.contact_id] += 1
        decisions[message.id] = decision
    return decisions


def _cap_applies(message: Message) -> bool:
    return bool(message.cap_frequency and message.contact_id and message.workspace.frequency_cap_count is not None)


def _decide_one(message: Message, now: datetime, counts: Counter) -> Decision:
    if is_expired(message, now):
        return Decision(EXPIRE, REASON_EXPIRED)
    if (message.use_case or "").lower() not in OPT_OUT_EXEMPT_USE_CASES and is_opted_out(
        message.contact, message.channel.platform
    ):
        return Decision(SKIP, REASON_OPTED_OUT)
    marketing = is_marketing(message)
    if marketing and not message.ignore_global_holdout and message.contact and message.contact.global_holdout:
        return Decision(SKIP, REASON_HOLDOUT)
    if marketing and not message.ignore_quiet_hours:
        until = quiet_period_end(message.workspace, now)
        if until is not None:
            return Decision(DEFER, f"{REASON_QUIET_HOURS} until {until.isoformat()}", until)
    if _cap_applies(message) and counts[message.contact_id] >= message.workspace.frequency_cap_count:
        return Decision(SKIP, REASON_FREQUENCY_CAP)
    return Decision(SEND)
