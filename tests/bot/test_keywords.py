"""Compliance keywords: STOP / START / HELP over the receive path."""

import pytest

from messaging.bot import keywords
from messaging.models import BotCommandAudit, Contact, Direction, Message
from messaging.services.receive import receive_message
from tests import factories

PHONE = "+14155552671"


# Replies wake the dispatcher; these tests look at what was queued, not at delivery.
pytestmark = pytest.mark.usefixtures("dispatches")


@pytest.fixture
def receive(django_capture_on_commit_callbacks):
    def call(channel, body, value=PHONE, key="phonenumber"):
        with django_capture_on_commit_callbacks(execute=True):
            return receive_message(channel, key, value, {"type": "text", "text": {"text": body}})

    return call


def replies() -> list[tuple[str, str, str]]:
    """What the sender sees: (channel name, to, text) of each outgoing message."""
    return [
        (m.channel.name, m.receiver["contacts"][0]["identifierValue"], m.text)
        for m in Message.objects.filter(direction=Direction.OUTGOING)
        .select_related("channel")
        .order_by("created_at")
    ]


def contact(value: str = PHONE) -> Contact:
    return Contact.objects.get(identifiers__value=value)


@pytest.mark.parametrize("word", ["STOP", "stop", "  Unsubscribe  ", "STOPALL", "cancel", "End", "QUIT"])
def test_stop_words_opt_the_sender_out_of_the_platform_and_reply(receive, sms_channel, word):
    incoming = receive(sms_channel, word)
    assert contact().opt_outs == ["sms"]
    assert replies() == [("SMS", PHONE, keywords.DEFAULT_STOP_TEXT)]
    reply = Message.objects.get(direction=Direction.OUTGOING)
    assert reply.reply_to_id == incoming.id
    assert reply.conversation_id == Message.objects.get(pk=incoming.pk).conversation_id is not None
    assert Message.objects.get(pk=incoming.pk).meta["bot"] == "stop"


def test_stop_only_touches_that_platform(receive, workspace, sms_channel):
    factories.create_contact(workspace, phone=PHONE, opt_outs=["whatsapp"])
    receive(sms_channel, "STOP")
    receive(sms_channel, "STOP")  # a repeat keeps one entry and is answered again
    assert contact().opt_outs == ["whatsapp", "sms"]
    assert len(replies()) == 2


def test_stop_on_email_opts_out_of_email_only(receive, workspace, email_channel):
    person = factories.create_contact(workspace, email="ann@example.com", opt_outs=["sms"])
    receive(email_channel, "unsubscribe", key="emailaddress", value="Ann@example.com")
    person.refresh_from_db()
    assert person.opt_outs == ["sms", "email"]
    assert replies() == [("Email", "ann@example.com", keywords.DEFAULT_STOP_TEXT)]


def test_the_stop_confirmation_still_goes_out_after_the_opt_out(receive, sms_channel):
    from django.utils import timezone

    from messaging.services import rules

    receive(sms_channel, "STOP")
    reply = Message.objects.select_related("channel", "workspace", "contact").get(
        direction=Direction.OUTGOING
    )
    assert reply.contact == contact()
    assert rules.decide([reply], timezone.now())[reply.id].action == rules.SEND


@pytest.mark.parametrize("word", ["START", "yes", "Unstop", "subscribe"])
def test_start_words_opt_back_in_and_reply(receive, workspace, sms_channel, word):
    factories.create_contact(workspace, phone=PHONE, opt_outs=["sms", "email"])
    receive(sms_channel, word)
    assert contact().opt_outs == ["email"]
    assert replies() == [("SMS", PHONE, keywords.DEFAULT_START_TEXT)]


def test_the_channel_words_its_own_answers(receive, workspace):
    channel = factories.create_channel(
        workspace,
        name="Shop SMS",
        settings={
            "stop_text": "Bye from Shop.",
            "start_text": "Welcome back to Shop.",
            "help_text": "Shop: call 555.",
        },
    )
    receive(channel, "help")
    receive(channel, "info")
    receive(channel, "stop")
    receive(channel, "start")
    assert [text for _, _, text in replies()] == [
        "Shop: call 555.",
        "Shop: call 555.",
        "Bye from Shop.",
        "Welcome back to Shop.",
    ]


def test_help_replies_without_changing_the_opt_outs(receive, workspace, sms_channel):
    factories.create_contact(workspace, phone=PHONE, opt_outs=["sms"])
    receive(sms_channel, "HELP")
    assert contact().opt_outs == ["sms"]
    assert replies() == [("SMS", PHONE, keywords.DEFAULT_HELP_TEXT)]


@pytest.mark.parametrize("body", ["stop it please", "STOP!", "helpful", "yes please", ""])
def test_other_messages_are_ordinary(receive, sms_channel, body):
    incoming = receive(sms_channel, body)
    assert contact().opt_outs == []
    assert replies() == []
    assert "bot" not in Message.objects.get(pk=incoming.pk).meta
    assert not BotCommandAudit.objects.exists()
