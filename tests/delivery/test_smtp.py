"""The smtp connector against a real SMTP server (aiosmtpd on a free loopback port)."""

import email
import socket
from email.message import Message as Email

import pytest
from aiosmtpd.controller import Controller

from messaging.models import Message, MessageEvent, Status
from messaging.services import dispatch
from tests import factories


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    """aiosmtpd handler: keeps what it receives; refuses recipients at refused.test."""

    def __init__(self):
        self.mails: list[tuple[str, list[str], Email]] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.endswith("@refused.test"):
            return f"550 5.1.1 <{address}>: mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.mails.append((envelope.mail_from, list(envelope.rcpt_tos), email.message_from_bytes(envelope.content)))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller, inbox
    finally:
        controller.stop()


@pytest.fixture
def smtp_channel(workspace, smtp_server):
    controller, _ = smtp_server
    return factories.create_channel(
        workspace,
        "email",
        "smtp",
        name="Mail",
        settings={"host": "127.0.0.1", "port": controller.port, "from": "News <news@acme.test>"},
    )


def html_message(channel, to: str, subject: str = "Spring sale"):
    contact = factories.create_contact(channel.workspace, email=to)
    return factories.create_message(
        channel,
        contact,
        body={"type": "html", "html": {"text": "Hi Ann, 20% off.", "html": "<p>Hi Ann, <b>20% off</b>.</p>",
                                       "metadata": {"subject": subject}}},
        receiver={"contacts": [{"identifierKey": "emailaddress", "identifierValue": to}]},
    )


def parts(mail: Email) -> dict:
    return {p.get_content_type(): p.get_payload(decode=True).decode().strip() for p in mail.walk() if not p.is_multipart()}


def test_an_email_arrives_with_text_and_html_parts(smtp_channel, smtp_server):
    _, inbox = smtp_server
    msg = html_message(smtp_channel, "ann@example.com")

    assert dispatch.dispatch_due() == 1

    msg.refresh_from_db()
    assert msg.status == Status.SENT  # an SMTP server reports no delivery
    assert list(MessageEvent.objects.filter(message=msg).order_by("id").values_list("status", flat=True)) == [
        "processing",
        "sent",
    ]
    [(mail_from, rcpt_tos, mail)] = inbox.mails
    assert mail_from == "news@acme.test"
    assert rcpt_tos == ["ann@example.com"]
    assert mail["Subject"] == "Spring sale"
    assert mail["From"] == "News <news@acme.test>"
    assert mail["To"] == "ann@example.com"
    assert mail["X-Switchboard-Message-Id"] == str(msg.id)
    body = parts(mail)
    assert body["text/plain"].strip() == "Hi Ann, 20% off."
    assert body["text/html"].strip() == "<p>Hi Ann, <b>20% off</b>.</p>"


def test_a_text_message_to_a_contact_uses_its_email_identifier_and_defaults(smtp_channel, smtp_server, settings):
    _, inbox = smtp_server
    contact = factories.create_contact(smtp_channel.workspace, email="bob@example.com")
    msg = factories.create_message(smtp_channel, contact, text="Your code is 123456")

    dispatch.dispatch_due()

    msg.refresh_from_db()
    assert msg.status == Status.SENT
    [(_, rcpt_tos, mail)] = inbox.mails
    assert rcpt_tos == ["bob@example.com"]
    assert mail["Subject"] == "Message from Acme"
    assert parts(mail) == {"text/plain": "Your code is 123456"}


def test_several_receivers_get_one_email(smtp_channel, smtp_server):
    _, inbox = smtp_server
    msg = html_message(smtp_channel, "ann@example.com")
    Message.objects.filter(id=msg.id).update(
        receiver={"contacts": [{"identifierKey": "emailaddress", "identifierValue": a}
                               for a in ("ann@example.com", "cy@example.com")]}
    )

    dispatch.dispatch_due()

    [(_, rcpt_tos, _mail)] = inbox.mails
    assert rcpt_tos == ["ann@example.com", "cy@example.com"]


def test_a_refused_recipient_fails_with_the_servers_reason(smtp_channel, smtp_server):
    _, inbox = smtp_server
    refused = html_message(smtp_channel, "nobody@refused.test")
    fine = html_message(smtp_channel, "dee@example.com")

    dispatch.dispatch_due()

    refused.refresh_from_db()
    fine.refresh_from_db()
    assert refused.status == Status.SENDING_FAILED
    assert "550" in refused.reason and "mailbox unavailable" in refused.reason
    assert fine.status == Status.SENT  # the same connection carries on
    assert [rcpt for _, rcpt, _ in inbox.mails] == [["dee@example.com"]]


def test_an_unreachable_server_means_retry(workspace, settings):
    settings.DISPATCH_MAX_ATTEMPTS = 3
    channel = factories.create_channel(workspace, "email", "smtp", settings={"host": "127.0.0.1", "port": free_port()})
    msg = html_message(channel, "eve@example.com")

    dispatch.dispatch_due()

    msg.refresh_from_db()
    assert (msg.status, msg.attempts) == (Status.ACCEPTED, 1)
    assert msg.reason.startswith("smtp: cannot connect")
    assert msg.due_at is not None


def test_no_email_address_fails_clearly(smtp_channel):
    msg = factories.create_message(smtp_channel, factories.create_contact(smtp_channel.workspace, phone="+15550000009"))

    dispatch.dispatch_due()

    msg.refresh_from_db()
    assert (msg.status, msg.reason) == (Status.SENDING_FAILED, "smtp: no email address to send to")


def test_settings_are_validated():
    from messaging.connectors.smtp.transport import SmtpConnector

    assert SmtpConnector.validate_settings({"port": "2525", "use_tls": "false"}) == {"port": 2525, "use_tls": False}
    with pytest.raises(ValueError, match="settings.port"):
        SmtpConnector.validate_settings({"port": "x"})
    with pytest.raises(ValueError, match="settings.port"):
        SmtpConnector.validate_settings({"port": 70000})
