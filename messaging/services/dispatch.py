"""The delivery engine: the database is the outbox, django-q2 workers drain it in batches.

How a message goes out:
1. The send path commits the message (`accepted`, or `scheduled` with `due_at`) and, on
   commit, calls `request_dispatch()`. That is coalesced through a `DispatchSignal` row: while
   one dispatch task is queued or running, further requests only read the flag, so a burst
   of 10,000 accepts queues a handful of tasks, not 10,000, and a steady stream is served
   by one dispatcher that keeps looping with ever fuller batches.
2. `dispatch_due()` (task `messaging.tasks.dispatch_due`) claims due messages in batches:
   one transaction selects up to DISPATCH_BATCH_SIZE of them (priority, then age) and moves
   them to `processing` with `claimed_at`/`claimed_by` and `attempts + 1`. On PostgreSQL the
   select uses SKIP LOCKED so workers claim disjoint sets; on SQLite the IMMEDIATE
   transaction serialises claimers. A claimed message belongs to one worker only.
3. Per channel, the rules (messaging.services.rules) expire, skip or defer messages; the rest
   go to the channel's connector in one `send_batch()` call, and the results are recorded
   with a few bulk statements per outcome (messaging.services.status).
4. `sweep()` (a Schedule every minute) returns messages of a worker that died mid-batch to
   the queue (or fails them after DISPATCH_MAX_ATTEMPTS), expires messages whose validity
   ran out while waiting, and asks for a dispatch when due work exists.
5. Scheduled messages are rows, so they survive restarts. No Schedule row per message:
   whenever the dispatcher or the sweeper sees that the next message falls due within the
   timer horizon, it arms the one `timer` flag and queues `messaging.tasks.release_timer`,
   which sleeps until that moment and then dispatches.

Guarantees: the queue is at-least-once (a task may run twice; claims make that harmless);
a message is handed to a connector at most once per attempt. A worker killed after the
provider accepted a message but before the result was recorded leads to a second attempt,
so a crash can duplicate a send across attempts — never within one.
"""

import logging
import os
import socket
import time
from collections import defaultdict
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Min, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from messaging import db
from messaging.connectors import get_connector
from messaging.connectors.app import relay as app_relay
from messaging.connectors.base import SendResult
from messaging.models import Channel, Contact, Direction, DispatchSignal, Message, Status
from messaging.schedules import django_q_migrated, ensure_every_minute
from messaging.services import rules
from messaging.services import status as st
from messaging.services.versioned import bump

log = logging.getLogger(__name__)

S = Status
DISPATCH_TASK = "messaging.tasks.dispatch_due"
TIMER_TASK = "messaging.tasks.release_timer"
FLAG_DISPATCH = "dispatch"
FLAG_TIMER = "timer"
REASON_WORKER_LOST = "worker lost (claim timed out)"
REASON_CONNECTOR_ERROR = "connector error"
REASON_NO_RESULT = "connector returned no result"
ACTOR = "dispatcher"


# --- settings (read at call time so tests can override them) ------------------------------


def _setting(name: str, default):
    return getattr(settings, name, default)


def batch_size() -> int:
    return int(_setting("DISPATCH_BATCH_SIZE", 200))


def max_attempts() -> int:
    return int(_setting("DISPATCH_MAX_ATTEMPTS", 3))


def claim_timeout() -> int:
    return int(_setting("DISPATCH_CLAIM_TIMEOUT", 300))


def _task_timeout() -> int:
    return int(settings.Q_CLUSTER.get("timeout", 120))


def linger_seconds() -> float:
    """Pause between partial batches while traffic flows (DISPATCH_LINGER_MS)."""
    return int(_setting("DISPATCH_LINGER_MS", 250)) / 1000


def flag_trust_seconds() -> float:
    """How long after seeing the dispatch flag set a process may rely on it without
    reading it again (DISPATCH_FLAG_TRUST_MS), and so how long a dispatcher keeps claiming
    after it cleared the flag. 0 in sync mode (tests): inline tasks never linger."""
    return 0.0 if _sync_mode() else int(_setting("DISPATCH_FLAG_TRUST_MS", 1000)) / 1000


def signal_ttl() -> int:
    """How long a queued dispatch request suppresses further ones (a lost task costs this)."""
    return int(_setting("DISPATCH_SIGNAL_TTL", 30))


def timer_horizon() -> int:
    """How far ahead the timer may be armed: its task sleeps that long, within the task timeout."""
    return max(1, min(int(_setting("DISPATCH_TIMER_HORIZON", 90)), _task_timeout() - 15))


def retry_delay(attempts: int) -> timedelta:
    """Exponential backoff after the `attempts`-th failed try: base, 2×base, 4×base..., capped."""
    base = int(_setting("DISPATCH_RETRY_BASE_SECONDS", 30))
    return timedelta(seconds=min(base * 2 ** max(attempts - 1, 0), int(_setting("DISPATCH_RETRY_MAX_SECONDS", 3600))))


def _sync_mode() -> bool:
    from django_q.conf import Conf

    return bool(Conf.SYNC)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:100]


# --- coalesced requests ---------------------------------------------------------------------


# monotonic() until which this process takes the dispatch flag to be set without reading
# it: see request_dispatch().
_flag_seen_until = 0.0
# Kept off the trust window: slack for the two processes' clocks and schedulers.
FLAG_TRUST_MARGIN = 0.2


def request_dispatch(force: bool = False) -> bool:
    """Ask the workers to look at the outbox soon. Called on commit by the send path.

    Coalesced: True only when this call queued a task. While a dispatch task is queued or
    running (its flag is younger than DISPATCH_SIGNAL_TTL) the call is one read, and after
    a read that found the flag set, no read at all for the next DISPATCH_FLAG_TRUST_MS
    (less a margin): a dispatcher that clears the flag keeps claiming that long before it
    stops (dispatch_due), so whatever this process commits meanwhile is still claimed.
    The window is measured on each side's own monotonic clock, so clocks of different
    hosts need not agree. `force` queues a task regardless (a dispatcher that ran out of
    time hands over).
    """
    global _flag_seen_until
    asked = time.monotonic()  # before the read: the window starts no later than the flag's state
    if not force and asked < _flag_seen_until:
        return False
    now = timezone.now()
    if not force and db.exists(DispatchSignal, name=FLAG_DISPATCH, pending_until__gt=now):
        _flag_seen_until = asked + flag_trust_seconds() - FLAG_TRUST_MARGIN
        return False
    until = now + timedelta(seconds=signal_ttl())
    flag = DispatchSignal.objects.filter(name=FLAG_DISPATCH)
    if not force:
        flag = flag.filter(Q(pending_until__isnull=True) | Q(pending_until__lte=now))
    if not flag.update(pending_until=until) and not _create_flag(FLAG_DISPATCH, pending_until=until):
        return False  # another process set the flag first: its task will see our messages
    return _enqueue(DISPATCH_TASK, FLAG_DISPATCH)


def _create_flag(name: str, **values) -> bool:
    """Create a flag row; False if it already exists (then the caller lost a race)."""
    if DispatchSignal.objects.filter(name=name).exists():
        return False
    try:
        with transaction.atomic():
            DispatchSignal.objects.create(name=name, **values)
        return True
    except IntegrityError:
        return False


def _enqueue(task: str, flag: str) -> bool:
    from django_q.tasks import async_task

    try:
        async_task(task, group="dispatch")
        return True
    except Exception:
        # The broker refused; drop the flag so the next request (or the sweeper) tries again.
        log.exception("could not queue %s", task)
        DispatchSignal.objects.filter(name=flag).update(pending_until=None, armed_for=None)
        return False


def _hold_dispatch_flag() -> None:
    """A running dispatcher keeps the flag set: accepts meanwhile need queue nothing."""
    until = timezone.now() + timedelta(seconds=signal_ttl())
    if not DispatchSignal.objects.filter(name=FLAG_DISPATCH).update(pending_until=until):
        _create_flag(FLAG_DISPATCH, pending_until=until)


def _clear_dispatch_flag() -> None:
    # Cleared when a dispatcher runs out of work (dispatch_due claims once more after it):
    # accepts committed after this point queue a new task.
    DispatchSignal.objects.filter(name=FLAG_DISPATCH).update(pending_until=None)


# --- which messages are due ---------------------------------------------------------------


def _due_q(now: datetime) -> Q:
    accepted_due = Q(status=S.ACCEPTED) & (Q(due_at__isnull=True) | Q(due_at__lte=now))
    scheduled_due = Q(status=S.SCHEDULED) & (
        Q(due_at__lte=now) | Q(due_at__isnull=True) & (Q(scheduled_for__isnull=True) | Q(scheduled_for__lte=now))
    )
    return accepted_due | scheduled_due


def _waiting():
    """Outgoing messages waiting for a dispatcher on a channel that may send."""
    return Message.objects.filter(
        direction=Direction.OUTGOING,
        status__in=[S.ACCEPTED, S.SCHEDULED],
        channel__status="active",
        channel__paused=False,
    )


def has_due_work(now: datetime | None = None) -> bool:
    return _waiting().filter(_due_q(now or timezone.now())).exists()


def next_due_at(now: datetime | None = None) -> datetime | None:
    """When the next waiting message falls due (None if none waits for a time)."""
    now = now or timezone.now()
    return (
        _waiting()
        .annotate(when=Coalesce("due_at", "scheduled_for"))
        .filter(when__gt=now)
        .aggregate(first=Min("when"))["first"]
    )


# --- claiming -------------------------------------------------------------------------------


def claim_batch(limit: int | None = None, now: datetime | None = None, worker: str | None = None, ids=None) -> list:
    """Atomically claim up to `limit` due messages; returns their ids (now `processing`)."""
    now = now or timezone.now()
    limit = limit or batch_size()
    with transaction.atomic():
        picked = _claimable(now, limit, None if ids is None else list(ids))
        return st.transition_many(
            [row[0] for row in picked],
            S.PROCESSING,
            locked_rows=picked,  # the claim's select locked them: not read a second time
            actor=ACTOR,
            at=now,
            increments={"attempts": 1},
            claimed_at=now,
            claimed_by=worker or worker_id(),
        )


def _claimable(now: datetime, limit: int, ids: list | None) -> list[tuple]:
    """Up to `limit` due messages (of `ids` if given), by priority then age, as rows of
    status.CHANGE_FIELDS (the id first); on PostgreSQL locked, skipping rows another
    claimer holds.

    `_waiting().filter(_due_q(now))` written out once per shape: the dispatcher runs this
    on every batch, and compiling the ORM query cost more than the database's answer.
    """
    if ids is not None and not ids:
        return []
    skip_locked = connection.vendor == "postgresql"

    def build() -> str:
        m, c = (lambda f: db.column(Message, f)), (lambda f: db.column(Channel, f))
        status, due, scheduled_for = m("status"), m("due_at"), m("scheduled_for")
        # Driven from the waiting messages (the partial index message_waiting, in claim
        # order), the channel checked per message: as a join, PostgreSQL on young
        # statistics started from the channel and walked its whole history
        # (tests/test_message_indexes.py).
        sql = (
            f"SELECT {', '.join(m(name) for name in st.CHANGE_FIELDS)} FROM {db.quote(Message._meta.db_table)}"
            f" WHERE {m('channel')} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {db.quote(Channel._meta.db_table)}"
            f" WHERE {c('id')} = {m('channel')} AND ({c('paused')} OR {c('status')} <> %s))"
            f" AND {m('direction')} = %s"
            # Written out, not parameters: the condition of the partial index message_waiting,
            # which the planner can only match against constants (PostgreSQL's generic plans
            # of a prepared statement included).
            f" AND {status} IN ('{S.ACCEPTED.value}', '{S.SCHEDULED.value}')"
            f" AND (({status} = %s AND ({due} IS NULL OR {due} <= %s))"
            f" OR ({status} = %s AND ({due} <= %s OR ({due} IS NULL"
            f" AND ({scheduled_for} IS NULL OR {scheduled_for} <= %s)))))"
        )
        if only_ids is not None:
            sql += f" AND {only_ids()}"
        sql += f" ORDER BY {m('priority')}, {m('created_at')}, {m('id')} LIMIT {int(limit)}"
        if skip_locked:
            sql += f" FOR UPDATE OF {db.quote(Message._meta.db_table)} SKIP LOCKED"
        return sql

    ids_shape, ids_params, only_ids = db.where(Message, id__in=ids) if ids is not None else ((), [], None)
    at = db.prepared(Message, "due_at", now)
    params = ["active", Direction.OUTGOING, S.ACCEPTED, at, S.SCHEDULED, at, at, *ids_params]
    sql = db.statement(("claim", limit, ids_shape, skip_locked), build)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return db.converted_rows(Message, st.CHANGE_FIELDS, rows)


# Contact columns the rules never read: not loaded for every message of a batch.
_CONTACT_UNUSED = ("attributes", "display_name", "created_at", "updated_at")
_CONTACT_FIELDS = tuple(f.name for f in Contact._meta.concrete_fields if f.name not in _CONTACT_UNUSED)


def _load(ids: list) -> list[Message]:
    """The claimed messages, with contact, channel and workspace, in two queries: a batch
    has a handful of channels, so they are fetched once, not joined into every row."""
    if not ids:
        return []
    messages = db.all_with_parent(
        Message, "contact", order_by=("priority", "created_at", "id"), parent_fields=_CONTACT_FIELDS, id__in=ids
    )
    channels = {
        c.id: c for c in db.all_with_parent(Channel, "workspace", id__in={m.channel_id for m in messages})
    } if messages else {}
    for message in messages:
        channel = channels[message.channel_id]
        message.channel = channel
        message.workspace = channel.workspace
    return messages


# --- processing a claimed batch ------------------------------------------------------------


def process(messages: list[Message], now: datetime | None = None) -> int:
    """Apply the rules and send a claimed batch, channel by channel; returns how many were handled."""
    now = now or timezone.now()
    by_channel: dict = defaultdict(list)
    for message in messages:
        by_channel[message.channel_id].append(message)
    for group in by_channel.values():
        _process_channel(group[0].channel, group, now)
    return len(messages)


def _process_channel(channel: Channel, messages: list[Message], now: datetime) -> None:
    decisions = rules.decide(messages, now)
    to_send: list[Message] = []
    finals: dict = defaultdict(list)  # (status, reason) → ids
    deferrals: dict = defaultdict(list)  # (until, reason) → ids
    for message in messages:
        decision = decisions[message.id]
        if decision.action == rules.SEND:
            to_send.append(message)
        elif decision.action == rules.EXPIRE:
            finals[(S.EXPIRED, decision.reason)].append(message.id)
        elif decision.action == rules.SKIP:
            finals[(S.SKIPPED, decision.reason)].append(message.id)
        else:
            deferrals[(decision.until, decision.reason)].append(message.id)
    for (status, reason), ids in finals.items():
        st.transition_many(ids, status, reason=reason, actor=ACTOR)
    for (until, reason), ids in deferrals.items():
        st.requeue(ids, reason, due_at=until, refund_attempt=True)
    if to_send:
        _send(channel, to_send, now)


def _send(channel: Channel, messages: list[Message], now: datetime) -> None:
    try:
        results = get_connector(channel).send_batch(messages)
    except Exception as exc:
        log.exception(
            "connector %s of channel %s failed; retrying messages %s",
            channel.connector,
            channel.id,
            [str(m.id) for m in messages],
        )
        reason = f"{REASON_CONNECTOR_ERROR}: {exc}"[:500]
        results = [SendResult(m.id, "retry", reason) for m in messages]
    record_results(channel, messages, results, now)


def record_results(channel: Channel, messages: list[Message], results: list[SendResult], now: datetime) -> None:
    """Record a connector's answers with a few bulk statements per outcome.

    `delivered` is recorded as `sent` then `delivered`, so the history shows both.
    A result for a message not in the batch, or a second result for one, is ignored.
    """
    by_id = {m.id: m for m in messages}
    actor = f"connector:{channel.connector}"
    groups: dict = defaultdict(list)  # (status, reason) → [message]
    for result in results:
        message = by_id.pop(_key(result.message_id, messages), None)
        if message is None:
            log.warning("channel %s: ignoring result for unknown/duplicate message %s", channel.id, result.message_id)
            continue
        groups[(result.status, result.reason or "")].append(message)
    for message in by_id.values():  # the connector skipped some: try them again
        groups[("retry", REASON_NO_RESULT)].append(message)

    for (status, reason), group in groups.items():
        ids = [m.id for m in group]
        if status == S.SENT:
            st.transition_many(ids, S.SENT, reason=reason, actor=actor)
        elif status == S.DELIVERED:
            st.transition_many(ids, S.DELIVERED, reason=reason, actor=actor, via=[S.SENT])
        elif status == S.SENDING_FAILED:
            st.transition_many(ids, S.SENDING_FAILED, reason=reason, actor=actor)
        elif status == "retry":
            _retry(group, reason, now)
        elif status == "wait":
            st.requeue(ids, reason, due_at=now + timedelta(seconds=int(_setting("DISPATCH_WAIT_SECONDS", 30))),
                       refund_attempt=True)
        elif status == "pending":
            continue  # the connector reports later; the sweeper catches it if it never does
        else:
            log.error("channel %s: unknown result status %r for %s", channel.id, status, ids)
            _retry(group, f"unknown connector result {status!r}", now)


def _key(message_id, messages: list[Message]):
    # Connectors may hand back ids as strings; match them to the batch's UUIDs.
    if messages and not isinstance(message_id, type(messages[0].id)):
        try:
            return type(messages[0].id)(str(message_id))
        except (TypeError, ValueError):
            return message_id
    return message_id


def _retry(messages: list[Message], reason: str, now: datetime) -> None:
    """Back to the queue with backoff while attempts remain, else failed with the reason."""
    by_delay: dict = defaultdict(list)
    exhausted = []
    for message in messages:
        if message.attempts < max_attempts():
            by_delay[message.attempts].append(message.id)
        else:
            exhausted.append(message.id)
    for attempts, ids in by_delay.items():
        st.requeue(ids, reason, due_at=now + retry_delay(attempts))
    st.transition_many(exhausted, S.SENDING_FAILED, reason=reason, actor=ACTOR)


# --- the loops the tasks run ------------------------------------------------------------------


def dispatch_due(budget_seconds: float | None = None) -> int:
    """Claim and send due messages until none are left; returns how many were handled.

    Stops after `budget_seconds` (half the task timeout) and queues a successor, so a huge
    backlog never runs into django-q2's timeout. On the way out it arms the timer for the
    next scheduled message.

    While it runs it keeps the dispatch flag set (renewed as it goes), so accepts in the
    meantime only read the flag instead of queueing more tasks: under a steady stream one
    dispatcher keeps looping, and each claim takes everything accepted while the previous
    batch was out — batches grow with the load instead of a task per handful of messages.
    Between partial batches it lingers DISPATCH_LINGER_MS, so a steady trickle is served in
    batches of several messages instead of one claim and status write per message.
    When a claim comes back empty it clears the flag and keeps claiming for
    DISPATCH_FLAG_TRUST_MS: an accept committed before the clear saw the flag set (or
    relied on having seen it set, within that window) and queued nothing, so one of these
    claims takes it; one whose process reads the flag after the clear finds it clear and
    queues a task.
    """
    _hold_dispatch_flag()
    held_at = time.monotonic()
    budget = budget_seconds if budget_seconds is not None else _task_timeout() / 2
    started = time.monotonic()
    worker = worker_id()
    handled = 0
    helper_asked = _sync_mode()  # inline tasks would only recurse
    while True:
        ids = claim_batch(worker=worker)
        if not ids:
            _clear_dispatch_flag()
            ids = _claim_while_trusted(worker)
            if not ids:
                break
            _hold_dispatch_flag()
            held_at = time.monotonic()
        if not helper_asked and len(ids) >= batch_size():
            # A backlog: queue one more task so another worker joins in.
            helper_asked = True
            request_dispatch(force=True)
        handled += process(_load(ids))
        if time.monotonic() - started > budget:
            request_dispatch(force=True)
            return handled
        if len(ids) < batch_size() and not _sync_mode() and linger_seconds():
            # Messages are trickling in (the claim was not full): let a few more arrive
            # so the next claim, and the status writes after it, serve them together. A
            # message accepted meanwhile waits at most this long; a full claim (a backlog)
            # never waits.
            time.sleep(linger_seconds())
        if time.monotonic() - held_at > signal_ttl() / 3:
            _hold_dispatch_flag()
            held_at = time.monotonic()
    _arm_for_next()
    return handled


def _claim_while_trusted(worker: str) -> list:
    """Right after clearing the flag: claim until something comes or until no process can
    still be relying on having seen the flag set (flag_trust_seconds()), pausing a linger
    between claims. A process that read the flag before the clear commits its messages
    within that window, so one of these claims takes them."""
    cleared = time.monotonic()
    while True:
        ids = claim_batch(worker=worker)
        left = flag_trust_seconds() - (time.monotonic() - cleared)
        if ids or left <= 0:
            return ids
        time.sleep(min(left, max(linger_seconds(), 0.05)))


def dispatch_ids(ids) -> int:
    """Claim and send exactly these messages if they are due (the bench's one-task-per-message
    baseline, and a way to push a single message through by hand)."""
    claimed = claim_batch(limit=len(list(ids)) or 1, ids=ids)
    return process(_load(claimed)) if claimed else 0


def _arm_for_next(now: datetime | None = None) -> None:
    now = now or timezone.now()
    upcoming = next_due_at(now)
    if upcoming is not None:
        arm_timer(upcoming, now)


def arm_timer(at: datetime, now: datetime | None = None) -> bool:
    """Make sure one task wakes up at `at` (if within the horizon). True if a task was queued.

    One `timer` flag for the whole installation: an earlier time moves the flag (the sleeping
    task re-reads it), a later one is left to the next arming, and a flag whose task must be
    gone (fired long ago or armed too long ago) is re-armed.
    """
    now = now or timezone.now()
    if _sync_mode() or at - now > timedelta(seconds=timer_horizon()):
        return False  # in sync mode (tests) a sleeping task would block the caller
    _create_flag(FLAG_TIMER)
    with transaction.atomic():
        flag = DispatchSignal.objects.select_for_update().get(name=FLAG_TIMER)
        stale = (
            flag.armed_for is None
            or flag.armed_at is None
            or flag.armed_for < now - timedelta(seconds=10)
            or flag.armed_at < now - timedelta(seconds=timer_horizon() + int(settings.Q_CLUSTER.get("retry", 180)))
        )
        if not stale and flag.armed_for <= at:
            return False
        DispatchSignal.objects.filter(pk=flag.pk).update(armed_for=at, **({"armed_at": now} if stale else {}))
    return _enqueue(TIMER_TASK, FLAG_TIMER) if stale else False


def release_timer() -> int:
    """Sleep until the armed time, then dispatch."""
    deadline = time.monotonic() + timer_horizon() + 5
    while True:
        at = DispatchSignal.objects.filter(name=FLAG_TIMER).values_list("armed_for", flat=True).first()
        if at is None:
            return 0  # another timer task fired it
        wait = (at - timezone.now()).total_seconds()
        if wait <= 0:
            if DispatchSignal.objects.filter(name=FLAG_TIMER, armed_for=at).update(armed_for=None, armed_at=None):
                return dispatch_due()
            continue  # moved meanwhile: read it again
        if time.monotonic() > deadline:
            return 0
        time.sleep(min(1.0, wait))


def sweep(now: datetime | None = None) -> dict:
    """Recover from dead workers and expired waits; wake the dispatcher if work is due.

    - `processing` claims older than DISPATCH_CLAIM_TIMEOUT go back to the queue, or fail
      with "worker lost (claim timed out)" when their attempts are used up;
    - `accepted`/`scheduled` messages past their validity become `expired`;
    - app frames kept for other web processes (connectors/app/relay.py) go after 10 minutes.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=claim_timeout())
    stale = list(
        Message.objects.filter(status=S.PROCESSING, claimed_at__lt=cutoff).values_list("id", "attempts")[:10000]
    )
    retry = [mid for mid, attempts in stale if attempts < max_attempts()]
    failed = [mid for mid, attempts in stale if attempts >= max_attempts()]
    requeued = st.requeue(retry, REASON_WORKER_LOST)
    failed = st.transition_many(failed, S.SENDING_FAILED, reason=REASON_WORKER_LOST, actor="sweeper")
    expired_ids = list(
        Message.objects.filter(
            direction=Direction.OUTGOING, status__in=[S.ACCEPTED, S.SCHEDULED], expires_at__lt=now
        ).values_list("id", flat=True)[:10000]
    )
    expired = st.transition_many(expired_ids, S.EXPIRED, reason=rules.REASON_EXPIRED, actor="sweeper")
    requested = release_due(max(now, timezone.now()))  # the requeued rows are due from "now"
    app_relay.sweep(now)
    return {"requeued": len(requeued), "failed": len(failed), "expired": len(expired), "dispatch": requested}


def release_due(now: datetime | None = None) -> bool:
    """Queue a dispatch if anything is due; arm the timer for what falls due soon."""
    now = now or timezone.now()
    requested = request_dispatch() if has_due_work(now) else False
    _arm_for_next(now)
    return requested


# --- channel pause / resume --------------------------------------------------------------------


def set_paused(channel: Channel, paused: bool) -> None:
    """Pause (messages are accepted and wait) or resume (the waiting messages go out)."""
    with transaction.atomic():
        Channel.objects.filter(pk=channel.pk).update(paused=paused, updated_at=timezone.now())
        bump(channel.workspace_id, "channels_version")  # a queryset update sends no post_save
    channel.paused = paused
    if not paused:
        transaction.on_commit(request_dispatch)


# --- schedules ------------------------------------------------------------------------------------


SCHEDULES = {
    # name → (task, offset in seconds of the first run): the release runs half a minute after
    # the sweep, so between them something looks at the outbox every ~30 s.
    "switchboard: sweep stale claims and expired messages": ("messaging.tasks.sweep", 0),
    "switchboard: release due scheduled messages": ("messaging.tasks.release_due", 30),
}


def ensure_schedules() -> int:
    """Create the django-q2 Schedule rows if missing (idempotent); returns how many were created."""
    return sum(
        ensure_every_minute(name, func, timedelta(seconds=offset)) for name, (func, offset) in SCHEDULES.items()
    )


def on_post_migrate(sender=None, using: str = "default", **kwargs) -> None:
    """post_migrate handler: `migrate` (and so `make run`) leaves the schedules in place."""
    if django_q_migrated(using):
        ensure_schedules()
