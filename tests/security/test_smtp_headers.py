"""Header injection through an email subject (security review).

Django refuses a header value with CR/LF (BadHeaderError) when the email is built. That
must fail only the message that carries it — never escape the connector, which made the
whole batch "retry" and re-sent the messages already handed to the SMTP server — and the
API must refuse such a subject up front, naming the field.
"""

from messaging.models import MessageEvent, Status
from messaging.services import dispatch
from tests.delivery.test_smtp import html_message, smtp_channel, smtp_server  # noqa: F401 (fixtures)

INJECTED = "Sale\r\nBcc: victim@example.com"


def test_a_subject_with_a_line_break_fails_alone_and_nothing_is_sent_twice(smtp_channel, smtp_server):  # noqa: F811
    _, inbox = smtp_server
    fine = html_message(smtp_channel, "ann@example.com")
    bad = html_message(smtp_channel, "bob@example.com", subject=INJECTED)

    dispatch.dispatch_due()
    dispatch.dispatch_due()  # a retry round would send `fine` a second time

    fine.refresh_from_db()
    bad.refresh_from_db()
    assert fine.status == Status.SENT
    assert bad.status == Status.SENDING_FAILED
    assert "line break" in bad.reason
    assert [rcpt for _, rcpt, _ in inbox.mails] == [["ann@example.com"]]
    assert MessageEvent.objects.filter(message=fine, status=Status.SENT).count() == 1
