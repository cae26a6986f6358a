"""The `webhook` connector against a real local receiver."""

import json
import socket

import pytest
from standardwebhooks import Webhook

from messaging.connectors import get_connector
from messaging.connectors.webhook.transport import WebhookConnector
from messaging.models import Contact
from tests import factories


@pytest.fixture
def make_channel(workspace, receiver, allow_private):
    def make(url: str | None = None, **settings):
        return factories.create_channel(
            workspace, "webhook", "webhook", settings={"url": url or receiver.url("/out"), **settings}
        )

    return make


def _message(channel, text="hello", **kwargs):
    contact = Contact.objects.filter(workspace=channel.workspace).first() or factories.create_contact(
        channel.workspace, phone="+14155550101"
    )
    receiver = {"contacts": [{"id": str(contact.id), "identifierKey": "phonenumber", "identifierValue": "+14155550101"}]}
    return factories.create_message(channel, contact, text=text, receiver=receiver, reference="order-7", **kwargs)


def test_the_registry_serves_webhook_channels(make_channel):
    assert isinstance(get_connector(make_channel()), WebhookConnector)


def test_it_posts_a_signed_message_and_reports_sent(make_channel, receiver):
    channel = make_channel()
    message = _message(channel)

    [result] = get_connector(channel).send_batch([message])

    assert (result.message_id, result.status, result.reason) == (message.id, "sent", "")
    [request] = receiver.requests
    assert request.path == "/out"
    # The receiving side verifies with the package and the channel's inbound secret.
    payload = Webhook(channel.inbound_secret).verify(request.body, request.headers)
    assert request.headers["webhook-id"] == str(message.id)
    assert payload["id"] == str(message.id)
    assert payload["channelId"] == str(channel.id)
    assert payload["body"] == {"type": "text", "text": {"text": "hello"}}
    assert payload["reference"] == "order-7"
    assert payload["receiver"]["contacts"][0]["identifierValue"] == "+14155550101"


def test_a_signature_made_with_another_secret_does_not_verify(make_channel, receiver):
    channel = make_channel()
    other = make_channel(name="other")
    get_connector(channel).send_batch([_message(channel)])
    [request] = receiver.requests
    with pytest.raises(Exception, match="signature"):
        Webhook(other.inbound_secret).verify(request.body, request.headers)


def test_a_server_error_is_retried_with_the_reason(make_channel, receiver):
    receiver.answer(500, "database down")
    channel = make_channel()
    message = _message(channel)

    [result] = get_connector(channel).send_batch([message])

    assert result.status == "retry"
    assert result.reason == "HTTP 500: Internal Server Error: database down"


def test_a_client_error_fails_the_message_with_the_answer(make_channel, receiver):
    receiver.answer(404, "no such route\n")
    channel = make_channel()

    [result] = get_connector(channel).send_batch([_message(channel)])

    assert result.status == "sending_failed"
    assert result.reason == "HTTP 404: Not Found: no such route"


def test_a_rate_limit_is_retried(make_channel, receiver):
    receiver.answer(429, "slow down")
    channel = make_channel()
    [result] = get_connector(channel).send_batch([_message(channel)])
    assert (result.status, result.reason) == ("retry", "HTTP 429: Too Many Requests: slow down")


def test_a_redirect_is_not_followed_and_fails(make_channel, receiver):
    receiver.answer(302, "")
    channel = make_channel()
    [result] = get_connector(channel).send_batch([_message(channel)])
    assert (result.status, result.reason) == ("sending_failed", "HTTP 302: redirects are not followed")
    assert len(receiver.requests) == 1


def test_each_message_of_a_batch_gets_its_own_outcome(make_channel, receiver):
    receiver.answer_sequence((200, "ok"), (400, "bad receiver"), (503, "busy"))
    channel = make_channel()
    messages = [_message(channel, text=f"m{i}") for i in range(3)]

    results = get_connector(channel).send_batch(messages)

    assert [(r.message_id, r.status) for r in results] == [
        (messages[0].id, "sent"),
        (messages[1].id, "sending_failed"),
        (messages[2].id, "retry"),
    ]
    assert [json.loads(r.body)["id"] for r in receiver.requests] == [str(m.id) for m in messages]


def test_the_metadata_address_is_refused_without_a_request(make_channel, receiver):
    channel = make_channel(url="http://169.254.169.254/latest/meta-data/")
    messages = [_message(channel), _message(channel, text="two")]

    results = get_connector(channel).send_batch(messages)

    assert [r.status for r in results] == ["sending_failed", "sending_failed"]
    assert "SSRF guard" in results[0].reason and "link-local" in results[0].reason
    assert receiver.requests == []


def test_loopback_is_refused_when_private_urls_are_off(make_channel, receiver, settings):
    channel = make_channel()
    settings.ALLOW_PRIVATE_URLS = False
    [result] = get_connector(channel).send_batch([_message(channel)])
    assert result.status == "sending_failed"
    assert "SSRF guard" in result.reason and "ALLOW_PRIVATE_URLS" in result.reason
    assert receiver.requests == []


def test_an_unreachable_receiver_is_retried_and_not_hammered(make_channel):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    channel = make_channel(url=f"http://127.0.0.1:{port}/out")
    messages = [_message(channel), _message(channel, text="two")]

    results = get_connector(channel).send_batch(messages)

    assert [r.status for r in results] == ["retry", "retry"]
    assert results[0].reason.startswith("webhook unreachable: connection failed")
    assert results[1].reason.endswith("(not attempted after that)")


def test_a_slow_receiver_times_out_and_is_retried(make_channel, receiver):
    receiver.answer(200, "late", delay=2)
    channel = make_channel(timeout=1)
    [result] = get_connector(channel).send_batch([_message(channel)])
    assert (result.status, result.reason) == ("retry", "webhook unreachable: timed out after 1s")


def test_a_channel_without_url_fails_clearly(workspace):
    channel = factories.create_channel(workspace, "webhook", "webhook", settings={})
    [result] = get_connector(channel).send_batch([_message(channel)])
    assert (result.status, result.reason) == ("sending_failed", "channel settings.url is not set")


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({}, "settings.url is required"),
        ({"url": "ftp://x"}, "settings.url must be an http or https URL"),
        ({"url": "https://example.com/in", "timeout": 600}, "settings.timeout must be between 1 and 60"),
        ({"url": "https://example.com/in", "timeout": "soon"}, "settings.timeout must be of type int"),
    ],
)
def test_settings_are_validated(values, problem):
    with pytest.raises(ValueError, match=problem):
        WebhookConnector.validate_settings(values)


def test_valid_settings_are_coerced():
    assert WebhookConnector.validate_settings({"url": "https://example.com/in", "timeout": "5"}) == {
        "url": "https://example.com/in",
        "timeout": 5,
    }
