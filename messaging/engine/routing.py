"""Sending through a fleet of phones: device selection, SendMessage requests, their replies,
timeouts and re-routing (SPEC §3.5).

Everything a reply needs is in the database (EngineRequest rows, with the frame itself),
so any web process can accept the reply. Frames reach a device through the channel-layer
group `endpoint.<id>`: pushed at once when the layer is shared (Redis) or the socket is in
this process, else picked up from the database by the pump of the process that holds the
socket (messaging.engine.pump) — so the worker can send to a device daphne holds.

Rules that keep a message from going out twice or moving backwards:
- status changes only through messaging.services.status (forward-only);
- a message with a succeeded SendMessage request is never handed to a device again;
- a success is always honoured (the phone did send it), even late, and moves the message
  to `sent` from wherever it is allowed to; a failure, timeout or disconnect only acts
  when its request is still the message's current one (no newer request, still
  `processing` on that device).
"""

import heapq
import logging
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction
from django.db.models import Max, OuterRef, Subquery
from django.utils import timezone

from messaging.connectors.base import SendResult
from messaging.engine import codec, pump
from messaging.models import Channel, EngineRequest, Message, MessagingEndpoint, Status
from messaging.services import status as st
from messaging.services.dispatch import request_dispatch

log = logging.getLogger(__name__)

DEFAULT_SEND_TIMEOUT = 60
NO_DEVICE = "no_device_available"
RATE_LIMITED = "device_rate_limited"
SUCCEEDED = "succeeded"
TIMEOUT = "timeout"
DISCONNECTED = "device_disconnected"


# --- the channel layer ------------------------------------------------------------------------


def group_name(endpoint_id) -> str:
    return f"endpoint.{endpoint_id}"


def push_frames(endpoint_id, frames: list[str]) -> None:
    """Hand frames to whichever process holds the device's socket (one layer message)."""
    if frames:
        async_to_sync(get_channel_layer().group_send)(
            group_name(endpoint_id), {"type": "engine.frames", "frames": frames}
        )


def push_after_commit(by_endpoint: dict[object, list[str]]) -> None:
    """Send after commit: a fast device must find the request row when it answers.

    Only for requests written with `sent_at` set (pump.can_push); the rest wait in the
    database for the pump of the process that holds the device's socket.
    """

    def push() -> None:
        for endpoint_id, frames in by_endpoint.items():
            try:
                push_frames(endpoint_id, frames)
            except Exception:  # the layer is down: the requests time out and are re-routed
                log.exception("could not hand %d frame(s) to device %s", len(frames), endpoint_id)

    transaction.on_commit(push)


# --- channel settings ---------------------------------------------------------------------------


def setting(channel: Channel, key: str, default: int | None) -> int | None:
    value = (channel.settings or {}).get(key, default)
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        log.warning("channel %s: settings.%s=%r is not a number; using %r", channel.id, key, value, default)
        return default


def send_timeout(channel: Channel) -> int:
    return setting(channel, "send_timeout_seconds", DEFAULT_SEND_TIMEOUT) or DEFAULT_SEND_TIMEOUT


def max_attempts(channel: Channel) -> int:
    return setting(channel, "max_attempts", settings.DISPATCH_MAX_ATTEMPTS) or settings.DISPATCH_MAX_ATTEMPTS


# --- device selection ---------------------------------------------------------------------------


@dataclass
class Candidate:
    endpoint: MessagingEndpoint
    load: int  # SendMessage requests in flight (plus those assigned in this batch)
    room: int | None  # sends left this minute under the rate limit; None = unlimited


def available_endpoints(channel: Channel) -> list[Candidate]:
    """Devices of the channel that can send now, with their load and rate-limit room."""
    endpoints = list(
        MessagingEndpoint.objects.filter(
            channel=channel, connected=True, connection_state="CONNECTED", send_permission="ON"
        )
    )
    if not endpoints:
        return []
    now = timezone.now()
    sends = EngineRequest.objects.filter(endpoint__in=endpoints, action=codec.SEND_MESSAGE)
    in_flight = Counter(
        sends.filter(answered_at=None, outcome="", expires_at__gt=now).values_list("endpoint_id", flat=True)
    )
    limit = setting(channel, "rate_limit_per_minute", None)
    recent: Counter = Counter()
    if limit:
        recent = Counter(sends.filter(created_at__gt=now - timedelta(minutes=1)).values_list("endpoint_id", flat=True))
    return [
        Candidate(e, in_flight[e.id], (max(limit - recent[e.id], 0) if limit else None)) for e in endpoints
    ]


class Picker:
    """Least-loaded device with rate-limit room, preferring one the message has not failed
    on; a heap keeps a batch of thousands over hundreds of devices cheap."""

    def __init__(self, candidates: list[Candidate]):
        ordered = sorted(candidates, key=lambda c: str(c.endpoint.id))
        self.heap = [(c.load, i, c) for i, c in enumerate(ordered)]
        heapq.heapify(self.heap)

    def pick(self, avoid: set) -> Candidate | None:
        skipped, choice = [], None
        while self.heap:
            entry = heapq.heappop(self.heap)
            candidate = entry[2]
            if candidate.room is not None and candidate.room <= 0:
                continue  # used up its rate limit for this minute: out of this batch
            if candidate.endpoint.id in avoid:
                skipped.append(entry)
                continue
            choice = entry
            break
        if choice is None and skipped:  # only devices it failed on are left: least loaded
            skipped.sort(key=lambda e: (e[0], e[1]))
            choice = skipped.pop(0)
        for entry in skipped:
            heapq.heappush(self.heap, entry)
        if choice is None:
            return None
        candidate = choice[2]
        candidate.load += 1
        if candidate.room is not None:
            candidate.room -= 1
        heapq.heappush(self.heap, (candidate.load, choice[1], candidate))
        return candidate


# --- sending ----------------------------------------------------------------------------------------


def recipients_of(message: Message) -> list[str]:
    """Phone numbers the message goes to (receiver JSON, else the contact's identifiers)."""
    contacts = (message.receiver or {}).get("contacts") or []
    numbers = [
        c.get("identifierValue")
        for c in contacts
        if isinstance(c, dict) and c.get("identifierKey") == "phonenumber" and c.get("identifierValue")
    ]
    if not numbers and message.contact_id:
        numbers = list(
            message.contact.identifiers.filter(key="phonenumber").order_by("id").values_list("value", flat=True)[:1]
        )
    return numbers


def send_messages(channel: Channel, messages: list[Message]) -> list[SendResult]:
    """EngineConnector.send_batch: one SendMessage per message to the best device.

    Returns "pending" for every message handed to a device (the reply decides), "wait"
    when no device can take it now, "sent" for one a device already reported sent.
    """
    if not messages:
        return []
    history = _send_history([m.id for m in messages])
    results: list[SendResult] = []
    todo = []
    for message in messages:
        if SUCCEEDED in history[message.id].values():
            # A device already sent it (a late success raced a requeue): never send twice.
            results.append(SendResult(message.id, Status.SENT, "already sent by a device"))
            continue
        numbers, text = recipients_of(message), message.text
        if not numbers:
            results.append(SendResult(message.id, Status.SENDING_FAILED, "no phone number to send to"))
        elif not text:
            results.append(SendResult(message.id, Status.SENDING_FAILED, "engine channels send text messages only"))
        else:
            todo.append((message, numbers, text))
    if not todo:
        return results
    candidates = available_endpoints(channel)
    if not candidates:
        return results + [SendResult(m.id, "wait", NO_DEVICE) for m, _, _ in todo]

    now = timezone.now()
    expires = now + timedelta(seconds=send_timeout(channel))
    requests, frames, assigned = [], defaultdict(list), []
    picker = Picker(candidates)
    for message, numbers, text in todo:
        choice = picker.pick(avoid=set(history[message.id]))
        if choice is None:
            results.append(SendResult(message.id, "wait", RATE_LIMITED))
            continue
        token = codec.new_token()
        endpoint_id = choice.endpoint.id
        frame = codec.send_message(token, text, numbers)
        push = pump.can_push(endpoint_id)
        requests.append(
            EngineRequest(
                token=token, endpoint_id=endpoint_id, action=codec.SEND_MESSAGE, message_id=message.id,
                detail={"frame": frame}, created_at=now, sent_at=now if push else None, expires_at=expires,
            )
        )
        if push:
            frames[endpoint_id].append(frame)
        results.append(SendResult(message.id, "pending", ""))
        message.endpoint_id = endpoint_id
        assigned.append(message.id)
    with transaction.atomic():
        EngineRequest.objects.bulk_create(requests, batch_size=500)
        _set_endpoints(assigned)
        push_after_commit(dict(frames))
    return results


def _set_endpoints(message_ids: list) -> None:
    """Message.endpoint = the phone of each message's newest SendMessage, in one UPDATE."""
    newest = (
        EngineRequest.objects.filter(message_id=OuterRef("pk"), action=codec.SEND_MESSAGE)
        .order_by("-id")
        .values("endpoint_id")[:1]
    )
    Message.objects.filter(id__in=message_ids).update(endpoint_id=Subquery(newest))


def _send_history(message_ids: list) -> dict[object, dict[object, str]]:
    """message id → {endpoint id: outcome} of its earlier SendMessage requests."""
    history: dict = defaultdict(dict)
    rows = EngineRequest.objects.filter(message_id__in=message_ids, action=codec.SEND_MESSAGE).order_by("id")
    for message_id, endpoint_id, outcome in rows.values_list("message_id", "endpoint_id", "outcome"):
        # A success anywhere must stay visible even if the same device failed it later.
        if history[message_id].get(endpoint_id) != SUCCEEDED:
            history[message_id][endpoint_id] = outcome
    return history


# --- replies ---------------------------------------------------------------------------------------


def open_request(endpoint: MessagingEndpoint, token: str, action: str) -> EngineRequest | None:
    """The request this reply answers, or None (logged) for an unknown or stale token."""
    request = EngineRequest.objects.filter(token=token, endpoint=endpoint, action=action).first()
    if request is None:
        log.warning("device %s: reply to unknown token %r ignored", endpoint.id, token)
        return None
    if request.answered_at is not None:
        log.warning("device %s: second reply to token %r ignored (was %s)", endpoint.id, token, request.outcome)
        return None
    return request


def answer(request: EngineRequest, outcome: str) -> bool:
    """Record the reply; False if another process recorded one first."""
    return bool(
        EngineRequest.objects.filter(pk=request.pk, answered_at=None).update(
            answered_at=timezone.now(), outcome=outcome[:300]
        )
    )


def send_succeeded(endpoint: MessagingEndpoint, token: str) -> bool:
    """SendMessageSucceeded: the message is `sent` (unless it is already further on)."""
    return sends_succeeded([(endpoint.id, token)]) == 1


def sends_succeeded(replies: list[tuple[object, str]]) -> int:
    """Many SendMessageSucceeded at once ([(endpoint id, token)]), in a few queries: the
    consumer batches them, since a busy fleet answers hundreds per second. Returns how
    many messages moved to `sent`."""
    wanted = dict((token, endpoint_id) for endpoint_id, token in replies)  # a repeat counts once
    now = timezone.now()
    with transaction.atomic():
        rows = EngineRequest.objects.filter(token__in=list(wanted), action=codec.SEND_MESSAGE).values_list(
            "id", "token", "endpoint_id", "message_id", "answered_at", "message__endpoint_id"
        )
        found = {row[1]: row for row in rows}
        request_ids, message_ids, moved_device = [], [], defaultdict(list)
        for token, endpoint_id in wanted.items():
            row = found.get(token)
            if row is None or row[2] != endpoint_id:
                log.warning("device %s: reply to unknown token %r ignored", endpoint_id, token)
            elif row[4] is not None:
                log.warning("device %s: second reply to token %r ignored", endpoint_id, token)
            else:
                request_ids.append(row[0])
                if row[3] is not None:
                    message_ids.append(row[3])
                    if row[5] != endpoint_id:  # a late success: the message had moved to another phone
                        moved_device[endpoint_id].append(row[3])
        if not request_ids:
            return 0
        EngineRequest.objects.filter(id__in=request_ids, answered_at=None).update(answered_at=now, outcome=SUCCEEDED)
        # One statement for the whole batch (a fleet's answers come from many phones at once).
        moved = st.transition_many(message_ids, Status.SENT, actor="engine device")
        for endpoint_id, ids in moved_device.items():
            Message.objects.filter(id__in=[m for m in ids if m in set(moved)]).update(endpoint_id=endpoint_id)
    return len(moved)


def send_failed(endpoint: MessagingEndpoint, token: str, code: str, text: str = "") -> bool:
    """SendMessageFailed: NO_CONNECTIVITY goes to another device while attempts remain."""
    reason = f"{code}: {text}" if text else code
    with transaction.atomic():
        request = open_request(endpoint, token, codec.SEND_MESSAGE)
        if request is None or not answer(request, reason):
            return False
        if request.outcome:  # already timed out / re-routed: the message moved on without it
            return False
        current = _current(EngineRequest.objects.filter(pk=request.pk))
        if not current:
            return False
        message = current[0]
        if code == "NO_CONNECTIVITY" and message.attempts < max_attempts(message.channel):
            return bool(_requeue([message.id], reason, actor=f"device:{endpoint.id}"))
        return st.transition(message, Status.SENDING_FAILED, reason=reason, actor=f"device:{endpoint.id}")


def _current(requests) -> list[Message]:
    """Messages for which the given request is still the live one: `processing` on that
    device, with no newer SendMessage request."""
    rows = list(requests.values_list("id", "message_id", "endpoint_id"))
    if not rows:
        return []
    latest = dict(
        EngineRequest.objects.filter(message_id__in=[r[1] for r in rows], action=codec.SEND_MESSAGE)
        .values("message_id")
        .annotate(last=Max("id"))
        .values_list("message_id", "last")
    )
    live = {(mid, eid) for rid, mid, eid in rows if latest.get(mid) == rid}
    messages = Message.objects.filter(id__in=[m for m, _ in live], status=Status.PROCESSING).select_related("channel")
    return [m for m in messages if (m.id, m.endpoint_id) in live]


def _requeue(ids: list, reason: str, actor: str) -> list:
    """Back to the queue, due now (another device takes it), and wake the dispatcher."""
    requeued = st.requeue(ids, reason, actor=actor)
    if requeued:
        transaction.on_commit(request_dispatch)
    return requeued


def give_back(requests, outcome: str, reason: str) -> tuple[int, int]:
    """Close open SendMessage requests without an answer (timeout, device gone) and return
    their messages to the queue, or fail those out of attempts. Returns (requeued, failed)."""
    with transaction.atomic():
        ids = list(requests.filter(answered_at=None, outcome="").values_list("id", flat=True))
        if not ids:
            return 0, 0
        messages = _current(EngineRequest.objects.filter(id__in=ids))
        # answered_at stays empty: a late success from the phone is still honoured.
        EngineRequest.objects.filter(id__in=ids, answered_at=None, outcome="").update(outcome=outcome)
        retry = [m.id for m in messages if m.attempts < max_attempts(m.channel)]
        fail = [m.id for m in messages if m.attempts >= max_attempts(m.channel)]
        requeued = _requeue(retry, reason, actor="engine")
        failed = st.transition_many(fail, Status.SENDING_FAILED, reason=reason, actor="engine")
    return len(requeued), len(failed)


def reroute_in_flight(endpoint_id) -> tuple[int, int]:
    """The device's socket closed: its unanswered sends go to other devices."""
    open_sends = EngineRequest.objects.filter(endpoint_id=endpoint_id, action=codec.SEND_MESSAGE)
    return give_back(open_sends, DISCONNECTED, f"{DISCONNECTED}: the device disconnected before answering")


def expire_device_requests() -> int:
    """Periodic task: SendMessage requests unanswered past their channel's
    send_timeout_seconds, or left open on a device that is gone, are given back (requeued /
    failed); other requests just expire. Returns how many requests were closed."""
    open_requests = EngineRequest.objects.filter(answered_at=None, outcome="")
    # A dispatcher that picked a device just as it disconnected leaves sends behind that no
    # session will deliver: give them back now rather than at their timeout.
    stranded = open_requests.filter(action=codec.SEND_MESSAGE, endpoint__connected=False)
    count = stranded.count()
    give_back(stranded, DISCONNECTED, f"{DISCONNECTED}: the device disconnected before answering")
    overdue = open_requests.filter(expires_at__lte=timezone.now())
    sends = overdue.filter(action=codec.SEND_MESSAGE)
    count += sends.count()
    give_back(sends, TIMEOUT, f"{TIMEOUT}: no answer from the device in time")
    return count + overdue.exclude(action=codec.SEND_MESSAGE).update(outcome=TIMEOUT)


def wake_waiting(channel_ids: Iterable) -> int:
    """A device became able to send: messages waiting for one are due now."""
    return Message.objects.filter(
        channel_id__in=list(channel_ids), status=Status.ACCEPTED, reason__in=[NO_DEVICE, RATE_LIMITED]
    ).update(due_at=timezone.now())
