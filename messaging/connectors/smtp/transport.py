"""SMTP connector: each message becomes one email (text + optional HTML part).

Settings (channel.settings), each falling back to Django's EMAIL_* settings:
`host`, `port`, `username`, `password`, `use_tls`, `use_ssl`, `timeout`, `from`
(DEFAULT_FROM_EMAIL), and `subject` (used when a message has none).

One SMTP connection per batch. Outcomes: the server took it → `sent` (an SMTP server
reports no delivery); it refused the recipients or the content permanently (5xx) →
`sending_failed` with the server's words; it could not be reached, timed out, dropped the
connection or answered 4xx → `retry` for that message and the rest of the batch.
"""

import logging
import smtplib
import socket

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.utils.html import strip_tags

from messaging.connectors.base import BaseConnector, SendResult
from messaging.models import ContactIdentifier, IdentifierKey, Message, Status

log = logging.getLogger(__name__)

BACKEND = "django.core.mail.backends.smtp.EmailBackend"
DEFAULT_SUBJECT = "Message from {workspace}"


class SmtpConnector(BaseConnector):
    slug = "smtp"
    settings_schema = {
        "host": str,
        "port": int,
        "username": str,
        "password": str,
        "use_tls": bool,
        "use_ssl": bool,
        "timeout": int,
        "from": str,
        "subject": str,
    }

    @classmethod
    def validate_settings(cls, values: dict) -> dict:
        values = dict(values)
        for key in ("use_tls", "use_ssl"):  # "--setting use_tls=false" arrives as a string
            if isinstance(values.get(key), str):
                values[key] = values[key].strip().lower() in ("1", "true", "yes", "on")
        out = super().validate_settings(values)
        if "port" in out and not 1 <= out["port"] <= 65535:
            raise ValueError("settings.port must be between 1 and 65535")
        return out

    def _setting(self, key: str, default):
        value = (self.channel.settings or {}).get(key)
        return default if value in (None, "") else value

    def connection(self):
        return get_connection(
            backend=BACKEND,
            host=self._setting("host", settings.EMAIL_HOST),
            port=int(self._setting("port", settings.EMAIL_PORT)),
            username=self._setting("username", settings.EMAIL_HOST_USER),
            password=self._setting("password", settings.EMAIL_HOST_PASSWORD),
            use_tls=bool(self._setting("use_tls", settings.EMAIL_USE_TLS)),
            use_ssl=bool(self._setting("use_ssl", settings.EMAIL_USE_SSL)),
            timeout=int(self._setting("timeout", settings.EMAIL_TIMEOUT)),
            fail_silently=False,
        )

    def send_batch(self, messages: list[Message]) -> list[SendResult]:
        recipients = self._recipients(messages)
        results: list[SendResult] = []
        pending = list(messages)
        conn = self.connection()
        try:
            conn.open()
        except (OSError, smtplib.SMTPException) as exc:
            return [SendResult(m.id, "retry", f"smtp: cannot connect: {_describe(exc)}") for m in pending]
        try:
            while pending:
                message = pending.pop(0)
                to = recipients.get(message.id) or []
                if not to:
                    results.append(SendResult(message.id, Status.SENDING_FAILED, "smtp: no email address to send to"))
                    continue
                outcome = self._send_one(conn, message, to)
                results.append(outcome)
                if outcome.status == "retry":  # the connection is no good: the rest waits too
                    results += [SendResult(m.id, "retry", outcome.reason) for m in pending]
                    pending = []
        finally:
            try:
                conn.close()
            except (OSError, smtplib.SMTPException):
                log.warning("smtp channel %s: error closing the connection", self.channel.id)
        return results

    def _send_one(self, conn, message: Message, to: list[str]) -> SendResult:
        email = self.build_email(message, to, conn)
        try:
            conn.send_messages([email])
        except ValueError as exc:
            # BadHeaderError (a CR/LF in the subject or from: header injection) or an
            # address Django cannot encode. This message can never be sent; it must not
            # escape either, or the whole batch — some already sent — would be retried.
            log.warning("smtp channel %s: message %s not sendable: %s", self.channel.id, message.id, exc)
            return SendResult(message.id, Status.SENDING_FAILED, f"smtp: {_unsendable(exc)}")
        except smtplib.SMTPRecipientsRefused as exc:
            return SendResult(message.id, Status.SENDING_FAILED, f"smtp: recipient refused: {_refusals(exc)}")
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            if 400 <= exc.smtp_code < 500:
                return SendResult(message.id, "retry", f"smtp: {_describe(exc)}")
            return SendResult(message.id, Status.SENDING_FAILED, f"smtp: {_describe(exc)}")
        except (OSError, smtplib.SMTPException) as exc:  # refused, timed out, disconnected
            return SendResult(message.id, "retry", f"smtp: {_describe(exc)}")
        return SendResult(message.id, Status.SENT)

    def build_email(self, message: Message, to: list[str], conn=None) -> EmailMultiAlternatives:
        text, html, subject = _content(message)
        subject = subject or self._setting("subject", "") or DEFAULT_SUBJECT.format(workspace=message.workspace.name)
        email = EmailMultiAlternatives(
            subject=subject[:998],
            body=text,
            from_email=self._setting("from", settings.DEFAULT_FROM_EMAIL),
            to=to,
            connection=conn,
            headers={"X-Switchboard-Message-Id": str(message.id)},
        )
        if html:
            email.attach_alternative(html, "text/html")
        return email

    def _recipients(self, messages: list[Message]) -> dict:
        """Email addresses per message: the receiver's emailaddress entries, else the
        contacts' emailaddress identifiers (one query for the batch)."""
        out: dict = {}
        missing = []
        for message in messages:
            contacts = (message.receiver or {}).get("contacts") or []
            emails = [
                str(c["identifierValue"]).strip()
                for c in contacts
                if isinstance(c, dict) and c.get("identifierKey") == IdentifierKey.EMAILADDRESS and c.get("identifierValue")
            ]
            out[message.id] = emails
            if not emails:
                missing.append(message.id)
        if missing:
            rows = ContactIdentifier.objects.filter(
                key=IdentifierKey.EMAILADDRESS, contact__messages__id__in=missing
            ).values_list("contact__messages__id", "value")
            for message_id, value in rows:
                if value not in out[message_id]:
                    out[message_id].append(value)
        return out


def _content(message: Message) -> tuple[str, str, str]:
    """(text, html, subject) of a message body; HTML-only bodies get a text part too."""
    body = message.body or {}
    kind = body.get("type")
    block = body.get(kind) if isinstance(body.get(kind), dict) else {}
    html = str(block.get("html") or "") if kind == "html" else ""
    text = str(block.get("text") or "") or (strip_tags(html).strip() if html else "")
    metadata = block.get("metadata") if isinstance(block.get("metadata"), dict) else {}
    subject = str(metadata.get("subject") or block.get("subject") or (message.template_info or {}).get("subject") or "")
    if kind == "image" and not text:
        text = "\n".join(i.get("mediaUrl", "") for i in block.get("images", []) if isinstance(i, dict))
    if kind == "file" and not text:
        text = "\n".join(f.get("mediaUrl", "") for f in block.get("files", []) if isinstance(f, dict))
    return text, html, subject


def _unsendable(exc: ValueError) -> str:
    if "newline" in str(exc):
        return "a header (subject or from) contains a line break"
    return f"the email cannot be built: {exc}"[:300]


def _refusals(exc: smtplib.SMTPRecipientsRefused) -> str:
    parts = []
    for address, (code, reply) in exc.recipients.items():
        reply = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
        parts.append(f"{address}: {code} {reply}")
    return "; ".join(parts)[:400]


def _describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        error = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        return f"{exc.smtp_code} {error}"[:400]
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out"
    return (str(exc) or type(exc).__name__)[:400]
