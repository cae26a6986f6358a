"""Sending rules: validity, quiet hours, frequency cap, holdout, opt-out (time passed in)."""

from datetime import UTC, datetime, time, timedelta

from django.utils import timezone

from messaging.models import Message, MessageEvent, SandboxSend, Status
from messaging.services import dispatch, rules
from tests import factories


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def quiet(workspace, start: str, end: str, tz: str = "UTC"):
    workspace.quiet_hours_start = time.fromisoformat(start)
    workspace.quiet_hours_end = time.fromisoformat(end)
    workspace.timezone = tz
    workspace.save()
    return workspace


def run_at(now: datetime) -> None:
    """One dispatcher pass as if the clock said `now`."""
    ids = dispatch.claim_batch(now=now)
    dispatch.process(dispatch._load(ids), now)


# --- quiet hours (pure function) ------------------------------------------------------------


def test_quiet_hours_across_midnight(workspace):
    quiet(workspace, "22:00", "07:00")
    assert rules.quiet_period_end(workspace, at("2024-03-10T23:30:00+00:00")) == at("2024-03-11T07:00:00+00:00")
    assert rules.quiet_period_end(workspace, at("2024-03-11T03:00:00+00:00")) == at("2024-03-11T07:00:00+00:00")
    assert rules.quiet_period_end(workspace, at("2024-03-11T07:00:00+00:00")) is None
    assert rules.quiet_period_end(workspace, at("2024-03-11T12:00:00+00:00")) is None
    assert rules.quiet_period_end(workspace, at("2024-03-11T21:59:59+00:00")) is None


def test_quiet_hours_within_one_day(workspace):
    quiet(workspace, "12:00", "14:00")
    assert rules.quiet_period_end(workspace, at("2024-05-01T13:00:00+00:00")) == at("2024-05-01T14:00:00+00:00")
    assert rules.quiet_period_end(workspace, at("2024-05-01T11:59:00+00:00")) is None


def test_quiet_hours_use_the_workspace_timezone(workspace):
    quiet(workspace, "21:00", "08:00", tz="America/New_York")  # EDT = UTC-4 in June
    # 02:00 UTC is 22:00 in New York: quiet until 08:00 local = 12:00 UTC.
    assert rules.quiet_period_end(workspace, at("2024-06-05T02:00:00+00:00")) == at("2024-06-05T12:00:00+00:00")
    # 22:00 UTC is 18:00 in New York: not quiet, although it would be in UTC.
    assert rules.quiet_period_end(workspace, at("2024-06-05T22:00:00+00:00")) is None


def test_quiet_hours_east_of_utc_cross_the_utc_date(workspace):
    quiet(workspace, "22:00", "06:00", tz="Asia/Tokyo")  # UTC+9
    # 14:00 UTC = 23:00 Tokyo; quiet until 06:00 Tokyo next day = 21:00 UTC same day.
    assert rules.quiet_period_end(workspace, at("2024-01-01T14:00:00+00:00")) == at("2024-01-01T21:00:00+00:00")


def test_no_quiet_hours_configured(workspace):
    assert rules.quiet_period_end(workspace, timezone.now()) is None


# --- quiet hours in the dispatcher ------------------------------------------------------------


def test_marketing_in_quiet_hours_is_deferred_without_using_an_attempt(workspace, sandbox):
    quiet(workspace, "22:00", "07:00", tz="Europe/Berlin")  # CET = UTC+1 in January
    now = at("2024-01-15T23:30:00+00:00")  # 00:30 in Berlin
    msg = factories.create_message(sandbox, use_case="marketing", expires_at=now + timedelta(days=1))

    run_at(now)

    msg.refresh_from_db()
    assert msg.status == Status.ACCEPTED
    assert msg.due_at == at("2024-01-16T06:00:00+00:00")  # 07:00 Berlin
    assert msg.reason.startswith("quiet hours until")
    assert msg.attempts == 0
    assert not SandboxSend.objects.exists()
    assert dispatch.claim_batch(now=at("2024-01-16T05:59:00+00:00")) == []

    run_at(at("2024-01-16T06:00:01+00:00"))
    msg.refresh_from_db()
    assert (msg.status, msg.attempts) == (Status.DELIVERED, 1)


def test_quiet_hours_spare_other_use_cases_and_ignore_quiet_hours(workspace, sandbox):
    quiet(workspace, "00:00", "23:59")
    now = timezone.now().replace(hour=12)
    transactional = factories.create_message(sandbox, expires_at=now + timedelta(days=1))
    ignoring = factories.create_message(
        sandbox, use_case="marketing", ignore_quiet_hours=True, expires_at=now + timedelta(days=1)
    )

    run_at(now)

    assert set(Message.objects.values_list("status", flat=True)) == {Status.DELIVERED}
    assert SandboxSend.objects.filter(message__in=[transactional, ignoring]).count() == 2


# --- validity, opt-out, holdout, frequency cap --------------------------------------------------


def test_an_expired_message_is_not_sent(sandbox):
    now = timezone.now()
    msg = factories.create_message(sandbox, expires_at=now - timedelta(seconds=1))

    run_at(now)

    msg.refresh_from_db()
    assert msg.status == Status.EXPIRED
    assert "validity" in msg.reason
    assert not SandboxSend.objects.exists()


def test_opted_out_contacts_are_skipped_for_that_platform_only(workspace, sandbox):
    contact = factories.create_contact(workspace, phone="+15550000002", opt_outs=["sms"])
    email = factories.create_channel(workspace, "email", "sandbox")
    on_sms = factories.create_message(sandbox, contact)
    on_email = factories.create_message(email, contact)
    confirmation = factories.create_message(sandbox, contact, use_case="compliance")

    run_at(timezone.now())

    for m in (on_sms, on_email, confirmation):
        m.refresh_from_db()
    assert (on_sms.status, on_sms.reason) == (Status.SKIPPED, "opted_out")
    assert on_email.status == Status.DELIVERED
    assert confirmation.status == Status.DELIVERED


def test_global_holdout_skips_marketing_unless_ignored(workspace, sandbox):
    contact = factories.create_contact(workspace, phone="+15550000003", global_holdout=True)
    marketing = factories.create_message(sandbox, contact, use_case="marketing")
    ignoring = factories.create_message(sandbox, contact, use_case="marketing", ignore_global_holdout=True)
    transactional = factories.create_message(sandbox, contact)

    run_at(timezone.now())

    for m in (marketing, ignoring, transactional):
        m.refresh_from_db()
    assert (marketing.status, marketing.reason) == (Status.SKIPPED, "global_holdout")
    assert ignoring.status == Status.DELIVERED
    assert transactional.status == Status.DELIVERED


def test_frequency_cap_counts_marketing_sent_in_the_period(workspace, sandbox):
    workspace.frequency_cap_count = 2
    workspace.frequency_cap_period_seconds = 3600
    workspace.save()
    contact = factories.create_contact(workspace, phone="+15550000004")
    now = timezone.now()
    old = factories.create_message(sandbox, contact, use_case="marketing", status=Status.DELIVERED)
    MessageEvent.objects.create(message=old, status=Status.SENT, at=now - timedelta(hours=2))  # outside the period
    recent = factories.create_message(sandbox, contact, use_case="marketing", status=Status.DELIVERED)
    MessageEvent.objects.create(message=recent, status=Status.SENT, at=now - timedelta(minutes=5))
    first = factories.create_message(sandbox, contact, use_case="marketing", cap_frequency=True)
    second = factories.create_message(sandbox, contact, use_case="marketing", cap_frequency=True)
    uncapped = factories.create_message(sandbox, contact, use_case="marketing")

    run_at(now)

    for m in (first, second, uncapped):
        m.refresh_from_db()
    assert first.status == Status.DELIVERED  # 1 recent + this one = 2
    assert (second.status, second.reason) == (Status.SKIPPED, "frequency_cap")
    assert uncapped.status == Status.DELIVERED  # capFrequency not asked for


def test_no_workspace_cap_means_no_capping(workspace, sandbox):
    contact = factories.create_contact(workspace, phone="+15550000005")
    msgs = [factories.create_message(sandbox, contact, use_case="marketing", cap_frequency=True) for _ in range(3)]

    run_at(timezone.now())

    assert {Message.objects.get(id=m.id).status for m in msgs} == {Status.DELIVERED}
