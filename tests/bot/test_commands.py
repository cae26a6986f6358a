"""Operator commands over the receive path: what the operator reads back, what changed, the audit."""

from datetime import timedelta

import pytest
from django.utils import timezone

from messaging.bot import commands
from messaging.models import BotCommandAudit, Direction, Message, Status
from messaging.services import status as st
from messaging.services.receive import receive_message
from tests import factories

# Replies and /resume wake the dispatcher; these tests look at what was queued, not at delivery.
pytestmark = pytest.mark.usefixtures("dispatches")

OPERATOR = "+14155550100"
STRANGER = "+12025550143"


@pytest.fixture(autouse=True)
def operators(workspace):
    # Configured in national format: the bot compares normalised numbers.
    workspace.operator_identifiers = ["(415) 555-0100", "ops@example.com"]
    workspace.save()


@pytest.fixture
def receive(django_capture_on_commit_callbacks):
    def call(channel, body, value=OPERATOR, key="phonenumber"):
        with django_capture_on_commit_callbacks(execute=True):
            return receive_message(channel, key, value, {"type": "text", "text": {"text": body}})

    return call


def outgoing():
    return (
        Message.objects.filter(direction=Direction.OUTGOING)
        .select_related("channel")
        .order_by("created_at", "id")
    )


def to_of(message: Message) -> str:
    return message.receiver["contacts"][0]["identifierValue"]


def answer(channel_name: str = "SMS", to: str = OPERATOR) -> str:
    """The bot's one reply to the operator, checked to go back over the same channel."""
    bot_replies = [m for m in outgoing() if m.reply_to_id is not None]
    assert len(bot_replies) == 1
    reply = bot_replies[0]
    assert (reply.channel.name, to_of(reply)) == (channel_name, to)
    return reply.text


def audits() -> list[tuple[str, str, str, bool]]:
    return list(
        BotCommandAudit.objects.order_by("at", "id").values_list("operator", "command", "result", "ok")
    )


# --- /status -------------------------------------------------------------------------------------


def _outgoing(channel, status: str, at=None, reason: str = "") -> Message:
    message = factories.create_message(channel, direction=Direction.OUTGOING)
    if status == Status.ACCEPTED:
        return message
    path = {
        Status.SCHEDULED: [Status.SCHEDULED],
        Status.PROCESSING: [Status.PROCESSING],
        Status.SENT: [Status.PROCESSING, Status.SENT],
        Status.DELIVERED: [Status.PROCESSING, Status.SENT, Status.DELIVERED],
        Status.SENDING_FAILED: [Status.PROCESSING, Status.SENDING_FAILED],
    }[status]
    for step in path:
        assert st.transition(message, step, reason=reason if step == status else "", at=at)
    return message


def test_status_reports_queue_last_hour_and_devices(receive, workspace, sms_channel, other_workspace):
    two_hours_ago = timezone.now() - timedelta(hours=2)
    for status in [Status.ACCEPTED, Status.ACCEPTED, Status.SCHEDULED, Status.PROCESSING]:
        _outgoing(sms_channel, status)
    _outgoing(sms_channel, Status.SENT)
    _outgoing(sms_channel, Status.DELIVERED)
    _outgoing(sms_channel, Status.SENT, at=two_hours_ago)  # outside the hour
    _outgoing(sms_channel, Status.SENDING_FAILED, reason="no route")
    _outgoing(sms_channel, Status.SENDING_FAILED, at=two_hours_ago)
    factories.create_message(sms_channel, direction=Direction.INCOMING, status=Status.DELIVERED)
    foreign = factories.create_channel(other_workspace, name="Theirs")
    _outgoing(foreign, Status.ACCEPTED)
    _outgoing(foreign, Status.SENT)
    online, _ = factories.create_endpoint(sms_channel, name="Pixel")
    online.connected = True
    online.save()
    factories.create_endpoint(sms_channel, name="Nokia")
    theirs, _ = factories.create_endpoint(foreign, name="Theirs")
    theirs.connected = True
    theirs.save()

    receive(sms_channel, "/status")

    expected = "Queue: 4 waiting. Last hour: 2 sent, 1 failed. Devices online: 1 of 2."
    assert answer() == expected
    assert audits() == [(OPERATOR, "/status", expected, True)]


def test_status_names_paused_channels(receive, workspace, sms_channel):
    factories.create_channel(workspace, name="Promo", paused=True)
    receive(sms_channel, "/STATUS")
    assert answer() == "Queue: 0 waiting. Last hour: 0 sent, 0 failed. Devices online: 0 of 0. Paused: Promo."


# --- /devices, /failed -----------------------------------------------------------------------------


def test_devices_lists_each_endpoint(receive, workspace, sms_channel, other_workspace):
    engine = factories.create_channel(workspace, "sms", "engine", name="Phones")
    pixel, _ = factories.create_endpoint(engine, name="Pixel")
    pixel.connected = True
    pixel.connection_state = "CONNECTED"
    pixel.send_permission = "ON"
    pixel.read_permission = "ON"
    pixel.last_seen_at = timezone.now() - timedelta(minutes=3, seconds=10)
    pixel.save()
    factories.create_endpoint(engine, name="Nokia")
    factories.create_endpoint(factories.create_channel(other_workspace, name="Theirs"), name="Foreign")

    receive(sms_channel, "/devices")

    assert answer() == (
        "Nokia (Phones): offline, DISCONNECTED, send OFF, read OFF, never seen\n"
        "Pixel (Phones): online, CONNECTED, send ON, read ON, seen 3m ago"
    )
    assert audits()[0][1:] == ("/devices", answer(), True)


def test_devices_says_when_there_are_none(receive, sms_channel):
    receive(sms_channel, "/devices")
    assert answer() == "No devices registered."


def test_failed_lists_the_last_ten_newest_first(receive, sms_channel, other_workspace):
    start = timezone.now() - timedelta(minutes=30)
    failed = [
        _outgoing(sms_channel, Status.SENDING_FAILED, at=start + timedelta(minutes=i), reason=f"reason {i}")
        for i in range(12)
    ]
    _outgoing(
        factories.create_channel(other_workspace, name="Theirs"), Status.SENDING_FAILED, reason="foreign"
    )

    receive(sms_channel, "/failed")

    lines = answer().split("\n")
    assert lines[0] == "Last 10 failed:"
    assert (
        lines[1:] == [f"{str(m.id)[:8]} SMS: reason {i}" for i, m in reversed(list(enumerate(failed)))][:10]
    )


def test_failed_says_when_there_are_none(receive, sms_channel):
    receive(sms_channel, "/failed")
    assert answer() == "No failed messages."


# --- /pause, /resume -------------------------------------------------------------------------------


def test_pause_and_resume_flip_the_flag(receive, workspace, sms_channel, dispatches):
    promo = factories.create_channel(workspace, name="Promo Blast")

    receive(sms_channel, "/pause promo blast")
    promo.refresh_from_db()
    assert promo.paused
    assert answer() == "Paused Promo Blast. Its messages wait until /resume Promo Blast."

    woken_by_reply = len(dispatches)  # the confirmation itself wakes the workers
    Message.objects.filter(direction=Direction.OUTGOING).delete()
    dispatches.clear()
    receive(sms_channel, f"/resume {promo.id}")
    promo.refresh_from_db()
    assert not promo.paused
    assert answer() == "Resumed Promo Blast. Waiting messages go out now."
    assert len(dispatches) == woken_by_reply + 1  # and the resume, once committed
    assert [(a[1], a[3]) for a in audits()] == [("/pause promo blast", True), (f"/resume {promo.id}", True)]


def test_a_paused_channel_keeps_accepting(receive, workspace, sms_channel, dispatches):
    receive(sms_channel, "/pause SMS")
    sms_channel.refresh_from_db()
    assert sms_channel.paused
    # Its own confirmation is accepted and waits in the queue like everything else.
    assert answer() == "Paused SMS. Its messages wait until /resume SMS."
    incoming = receive(sms_channel, "are you there?", value=STRANGER)
    assert Message.objects.get(pk=incoming.pk).status == Status.DELIVERED
    assert [m.status for m in outgoing()] == [Status.ACCEPTED]


def test_pausing_twice_says_so(receive, workspace, sms_channel):
    factories.create_channel(workspace, name="Promo", paused=True)
    receive(sms_channel, "/pause Promo")
    assert answer() == "Promo is already paused."


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("/pause", "Usage: /pause <channel name or id>"),
        ("/resume", "Usage: /resume <channel name or id>"),
        ("/pause Nope", "No channel 'Nope'. Try /status for names."),
    ],
)
def test_pause_needs_a_known_channel(receive, sms_channel, command, expected):
    receive(sms_channel, command)
    assert answer() == expected
    assert audits() == [(OPERATOR, command, expected, False)]
    sms_channel.refresh_from_db()
    assert not sms_channel.paused


def test_pause_cannot_reach_another_workspace(receive, sms_channel, other_workspace):
    theirs = factories.create_channel(other_workspace, name="Theirs")
    receive(sms_channel, f"/pause {theirs.id}")
    theirs.refresh_from_db()
    assert not theirs.paused
    assert answer().startswith("No channel")


# --- /send -----------------------------------------------------------------------------------------


def test_send_queues_a_message_to_the_number_on_the_same_channel(receive, sms_channel):
    receive(sms_channel, "/send 202-555-0143 Your order is ready")
    sent = [m for m in outgoing() if m.reply_to_id is None]
    assert [(m.channel.name, to_of(m), m.text, m.status) for m in sent] == [
        ("SMS", STRANGER, "Your order is ready", Status.ACCEPTED)
    ]
    expected = f"Queued to {STRANGER} on SMS (id {str(sent[0].id)[:8]})."
    assert answer() == expected
    assert audits() == [(OPERATOR, "/send 202-555-0143 Your order is ready", expected, True)]


def test_send_to_an_email_goes_over_an_email_channel(receive, sms_channel, email_channel):
    receive(sms_channel, "/send Bob@Example.com Meeting moved to 3pm")
    sent = [m for m in outgoing() if m.reply_to_id is None]
    assert [(m.channel.name, to_of(m), m.text) for m in sent] == [
        ("Email", "bob@example.com", "Meeting moved to 3pm")
    ]
    assert answer().startswith("Queued to bob@example.com on Email")


def test_an_operator_on_email_sends_sms_over_an_sms_channel(receive, sms_channel, email_channel):
    receive(email_channel, "/send +12025550143 hello", key="emailaddress", value="OPS@example.com")
    sent = [m for m in outgoing() if m.reply_to_id is None]
    assert [(m.channel.name, to_of(m)) for m in sent] == [("SMS", STRANGER)]
    assert answer("Email", "ops@example.com").startswith(f"Queued to {STRANGER} on SMS")


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("/send", "Usage: /send <phone or email> <text>"),
        ("/send +12025550143", "Usage: /send <phone or email> <text>"),
        ("/send 12 hi", "Can't send: '12' is not a valid phone number."),
        ("/send bob@ hi", "Can't send: 'bob@' is not an email address."),
        ("/send bob@example.com hi", "No active email channel to send to bob@example.com from."),
    ],
)
def test_send_explains_what_is_wrong(receive, sms_channel, command, expected):
    receive(sms_channel, command)
    assert answer() == expected
    assert audits() == [(OPERATOR, command, expected, False)]
    assert [m for m in outgoing() if m.reply_to_id is None] == []


# --- /help, unknown, who may ----------------------------------------------------------------------


def test_help_lists_the_commands(receive, sms_channel):
    receive(sms_channel, "/help")
    assert answer() == commands.HELP
    assert "/send <phone or email> <text>" in answer()
    assert audits() == [(OPERATOR, "/help", commands.HELP, True)]


def test_an_unknown_command_gets_the_help(receive, sms_channel):
    receive(sms_channel, "/reboot now")
    expected = f"Unknown command /reboot. {commands.HELP}"
    assert answer() == expected
    assert audits() == [(OPERATOR, "/reboot now", expected, False)]


def test_a_stranger_sending_a_command_is_an_ordinary_message(receive, sms_channel):
    incoming = receive(sms_channel, "/status", value=STRANGER)
    stored = Message.objects.get(pk=incoming.pk)
    assert (stored.direction, stored.text, stored.status) == (Direction.INCOMING, "/status", Status.DELIVERED)
    assert "bot" not in stored.meta
    assert list(outgoing()) == []
    assert audits() == []


def test_an_operator_of_another_workspace_is_a_stranger_here(
    receive, sms_channel, other_workspace, workspace
):
    workspace.operator_identifiers = []
    workspace.save()
    other_workspace.operator_identifiers = [OPERATOR]
    other_workspace.save()
    receive(sms_channel, "/status")
    assert list(outgoing()) == []
    assert audits() == []


def test_the_command_message_is_stored_and_marked(receive, sms_channel):
    incoming = receive(sms_channel, "/help")
    stored = Message.objects.get(pk=incoming.pk)
    assert stored.direction == Direction.INCOMING
    assert stored.meta["bot"] == "command"
    assert BotCommandAudit.objects.get().message_id == incoming.id
