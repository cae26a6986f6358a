"""POST /hooks/channels/<id>/inbound: signed inbound messages and delivery reports."""

import json
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from standardwebhooks import Webhook

from messaging.models import Direction, Message, MessageEvent, ProcessedWebhook
from tests import factories

INBOUND = {
    "sender": {"identifierKey": "phonenumber", "identifierValue": "+1 (415) 555-0123"},
    "body": {"type": "text", "text": {"text": "Hello there"}},
    "reference": "ref-1",
}


@pytest.fixture
def channel(workspace):
    return factories.create_channel(workspace, "sms", "webhook", settings={"url": "https://example.com/out"})


def url(channel_or_id) -> str:
    return f"/hooks/channels/{getattr(channel_or_id, 'id', channel_or_id)}/inbound"


def signed(secret: str, payload, webhook_id: str | None = None, at=None) -> tuple[str, dict]:
    body = payload if isinstance(payload, str) else json.dumps(payload)
    webhook_id = webhook_id or f"msg_{uuid.uuid4().hex}"
    at = at or timezone.now()
    headers = {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(webhook_id, at, body),
    }
    return body, headers


def post(client, channel, payload, secret=None, **kwargs):
    body, headers = signed(secret or channel.inbound_secret, payload, **kwargs)
    return client.post(url(channel), data=body, content_type="application/json", headers=headers)


def incoming(channel):
    return Message.objects.filter(channel=channel, direction=Direction.INCOMING)


class TestInboundMessages:
    def test_a_signed_message_is_stored(self, client, channel):
        response = post(client, channel, INBOUND, webhook_id="msg_first")

        assert response.status_code == 200
        [message] = incoming(channel)
        assert response.json() == {"messageId": str(message.id), "direction": "incoming", "status": "delivered"}
        assert message.sender["identifierValue"] == "+14155550123"  # normalised to E.164
        assert message.text == "Hello there"
        assert message.reference == "ref-1"
        assert message.external_id == "msg_first"

    def test_sandbox_channels_have_the_hook_too(self, client, workspace):
        sandbox = factories.create_channel(workspace, "sms", "sandbox")
        assert post(client, sandbox, INBOUND).status_code == 200
        assert incoming(sandbox).count() == 1

    def test_a_duplicate_webhook_id_is_stored_once_and_answered_the_same(self, client, channel):
        first = post(client, channel, INBOUND, webhook_id="msg_dup")
        second = post(client, channel, INBOUND, webhook_id="msg_dup")

        assert (first.status_code, second.status_code) == (200, 200)
        assert second.json() == first.json()
        assert incoming(channel).count() == 1
        assert ProcessedWebhook.objects.filter(channel=channel).count() == 1

    def test_the_same_webhook_id_on_another_channel_is_another_message(self, client, channel, workspace):
        other = factories.create_channel(workspace, "sms", "webhook", name="second")
        post(client, channel, INBOUND, webhook_id="msg_same")
        post(client, other, INBOUND, webhook_id="msg_same")
        assert incoming(channel).count() == 1 and incoming(other).count() == 1


class TestSignature:
    def assert_refused(self, response, text: str):
        assert response.status_code == 401
        body = response.json()
        assert body["code"] == "Unauthorized"
        assert text in body["message"]
        assert Message.objects.count() == 0
        assert ProcessedWebhook.objects.count() == 0

    def test_a_signature_with_another_secret_is_refused(self, client, channel, workspace):
        other = factories.create_channel(workspace, "sms", "webhook", name="other")
        self.assert_refused(post(client, channel, INBOUND, secret=other.inbound_secret), "No matching signature")

    def test_a_tampered_body_is_refused(self, client, channel):
        body, headers = signed(channel.inbound_secret, INBOUND)
        tampered = body.replace("Hello there", "Send me money")
        response = client.post(url(channel), data=tampered, content_type="application/json", headers=headers)
        self.assert_refused(response, "No matching signature")

    def test_a_stale_timestamp_is_refused(self, client, channel):
        stale = timezone.now() - timedelta(minutes=10)
        self.assert_refused(post(client, channel, INBOUND, at=stale), "too old")

    def test_missing_headers_are_refused(self, client, channel):
        response = client.post(url(channel), data=json.dumps(INBOUND), content_type="application/json")
        self.assert_refused(response, "Missing required headers")

    def test_a_malformed_signature_header_is_refused(self, client, channel):
        body, headers = signed(channel.inbound_secret, INBOUND)
        headers["webhook-signature"] = "garbage"
        response = client.post(url(channel), data=body, content_type="application/json", headers=headers)
        self.assert_refused(response, "malformed")


class TestRequests:
    def test_an_unknown_channel_is_404(self, client, channel):
        body, headers = signed(channel.inbound_secret, INBOUND)
        response = client.post(url(uuid.uuid4()), data=body, content_type="application/json", headers=headers)
        assert response.status_code == 404
        assert response.json()["code"] == "NotFound"

    def test_a_channel_of_another_connector_has_no_hook(self, client, workspace):
        smtp = factories.create_channel(workspace, "email", "smtp")
        response = post(client, smtp, INBOUND)
        assert response.status_code == 404

    def test_only_post_is_allowed(self, client, channel):
        response = client.get(url(channel))
        assert response.status_code == 405
        assert response["Allow"] == "POST"
        assert response.json()["code"] == "MethodNotAllowed"

    def test_an_inactive_channel_stores_nothing(self, client, channel):
        channel.status = "inactive"
        channel.save()
        response = post(client, channel, INBOUND)
        assert response.status_code == 409
        assert response.json()["code"] == "ChannelInactive"
        assert Message.objects.count() == 0

    def test_a_signed_body_that_is_not_json_is_400(self, client, channel):
        response = post(client, channel, "{not json")
        assert response.status_code == 400
        assert response.json()["code"] == "InvalidJSON"

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"sender": None}, "sender"),
            ({"sender": {"identifierKey": "fax", "identifierValue": "1"}}, "sender.identifierKey"),
            ({"sender": {"identifierKey": "phonenumber", "identifierValue": ""}}, "sender.identifierValue"),
            ({"sender": {"identifierKey": "phonenumber", "identifierValue": "not a number"}}, "sender.identifierValue"),
            ({"body": None}, "body"),
            ({"body": {"type": "image", "image": {}}}, "body.type"),
            ({"body": {"type": "text", "text": {}}}, "body.text.text"),
            ({"body": {"type": "text", "text": {"text": "x" * 10001}}}, "body.text.text"),
            ({"reference": 42}, "reference"),
            ({"reference": "r" * 201}, "reference"),
        ],
    )
    def test_a_bad_body_is_422_naming_the_field(self, client, channel, change, field):
        response = post(client, channel, {**INBOUND, **change})
        assert response.status_code == 422
        body = response.json()
        assert body["code"] == "InvalidPayload"
        assert field in body["details"]
        assert Message.objects.count() == 0

    def test_a_body_that_is_not_an_object_is_422(self, client, channel):
        response = post(client, channel, [1, 2])
        assert response.status_code == 422
        assert "body" in response.json()["details"]

    def test_a_rejected_webhook_id_can_be_sent_again_corrected(self, client, channel):
        bad = post(client, channel, {**INBOUND, "body": None}, webhook_id="msg_fixme")
        good = post(client, channel, INBOUND, webhook_id="msg_fixme")
        assert (bad.status_code, good.status_code) == (422, 200)
        assert incoming(channel).count() == 1


class TestDeliveryReports:
    @pytest.fixture
    def sent(self, channel):
        contact = factories.create_contact(channel.workspace, phone="+14155550100")
        return factories.create_message(channel, contact, status="sent", reference="order-1")

    def test_delivered_after_sent_moves_the_message(self, client, channel, sent):
        response = post(client, channel, {"status": "delivered", "messageId": str(sent.id)})

        assert response.status_code == 200
        assert response.json() == {"messageId": str(sent.id), "status": "delivered", "changed": True}
        sent.refresh_from_db()
        assert sent.status == "delivered"
        assert MessageEvent.objects.filter(message=sent, status="delivered", actor="inbound-hook").count() == 1

    def test_a_late_sent_after_delivered_is_ignored(self, client, channel, sent):
        post(client, channel, {"status": "delivered", "messageId": str(sent.id)})
        response = post(client, channel, {"status": "sent", "messageId": str(sent.id)})

        assert response.status_code == 200
        assert response.json() == {"messageId": str(sent.id), "status": "delivered", "changed": False}
        sent.refresh_from_db()
        assert sent.status == "delivered"
        assert MessageEvent.objects.filter(message=sent, status="sent").count() == 0

    def test_delivery_failed_keeps_the_reason(self, client, channel, sent):
        response = post(client, channel, {"status": "delivery_failed", "reference": "order-1", "reason": "handset off"})
        assert response.json()["status"] == "delivery_failed"
        sent.refresh_from_db()
        assert (sent.status, sent.reason) == ("delivery_failed", "handset off")

    def test_a_duplicate_report_is_processed_once(self, client, channel, sent):
        payload = {"status": "delivered", "messageId": str(sent.id)}
        first = post(client, channel, payload, webhook_id="msg_report")
        second = post(client, channel, payload, webhook_id="msg_report")
        assert second.json() == first.json() == {"messageId": str(sent.id), "status": "delivered", "changed": True}
        assert MessageEvent.objects.filter(message=sent, status="delivered").count() == 1

    def test_an_unknown_message_is_404_naming_message_id(self, client, channel):
        missing = uuid.uuid4()
        response = post(client, channel, {"status": "delivered", "messageId": str(missing)})
        assert response.status_code == 404
        body = response.json()
        assert body["code"] == "NotFound"
        assert "messageId" in body["details"] and str(missing) in body["message"]

    def test_a_message_of_another_channel_is_404(self, client, channel, workspace):
        other = factories.create_channel(workspace, "sms", "webhook", name="other")
        foreign = factories.create_message(other, status="sent")
        response = post(client, channel, {"status": "delivered", "messageId": str(foreign.id)})
        assert response.status_code == 404
        foreign.refresh_from_db()
        assert foreign.status == "sent"

    @pytest.mark.parametrize(
        ("payload", "field"),
        [
            ({"status": "read", "messageId": "x"}, "status"),
            ({"status": "delivered", "messageId": "not-a-uuid"}, "messageId"),
            ({"status": "delivered"}, "messageId"),
            ({"status": "delivered", "reference": "order-1", "reason": 5}, "reason"),
        ],
    )
    def test_a_bad_report_is_422_naming_the_field(self, client, channel, sent, payload, field):
        response = post(client, channel, payload)
        assert response.status_code == 422
        assert field in response.json()["details"]
        sent.refresh_from_db()
        assert sent.status == "sent"

    def test_sandbox_channels_take_no_reports(self, client, workspace):
        sandbox = factories.create_channel(workspace, "sms", "sandbox")
        message = factories.create_message(sandbox, status="sent")
        response = post(client, sandbox, {"status": "delivered", "messageId": str(message.id)})
        assert response.status_code == 422
        assert "status" in response.json()["details"]
