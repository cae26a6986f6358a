"""A webhook channel end to end: dispatch POSTs the message, the operator reports delivery
through the inbound hook, and a subscriber hears every step, all signed."""

import json

from django.utils import timezone
from standardwebhooks import Webhook

from messaging.models import MessageEvent, WebhookSubscription
from messaging.services import dispatch
from tests import factories


def test_send_report_and_subscriber_events(
    client, workspace, receiver, allow_private, sync_tasks, django_capture_on_commit_callbacks
):
    channel = factories.create_channel(workspace, "sms", "webhook", settings={"url": receiver.url("/operator")})
    sub = WebhookSubscription.objects.create(workspace=workspace, url=receiver.url("/subscriber"), events=["sms.outbound"])
    contact = factories.create_contact(workspace, phone="+14155550100")
    message = factories.create_message(channel, contact, text="your code is 1234")

    with django_capture_on_commit_callbacks(execute=True):
        assert dispatch.dispatch_ids([message.id]) == 1
    message.refresh_from_db()
    assert message.status == "sent"

    [operator_request] = [r for r in receiver.requests if r.path == "/operator"]
    sent_payload = Webhook(channel.inbound_secret).verify(operator_request.body, operator_request.headers)
    assert sent_payload["id"] == str(message.id)

    # The operator confirms delivery, signing with the same channel secret.
    report = json.dumps({"status": "delivered", "messageId": str(message.id)})
    at = timezone.now()
    headers = {
        "webhook-id": "report-1",
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(channel.inbound_secret).sign("report-1", at, report),
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/hooks/channels/{channel.id}/inbound", data=report, content_type="application/json", headers=headers
        )
    assert response.status_code == 200
    message.refresh_from_db()
    assert message.status == "delivered"
    assert list(MessageEvent.objects.filter(message=message).order_by("at", "id").values_list("status", flat=True)) == [
        "processing",
        "sent",
        "delivered",
    ]

    subscriber = [Webhook(sub.signing_key).verify(r.body, r.headers) for r in receiver.requests if r.path == "/subscriber"]
    assert [e["data"]["status"] for e in subscriber] == ["processing", "sent", "delivered"]
    assert {e["type"] for e in subscriber} == {"sms.outbound"}
    assert all(e["data"]["id"] == str(message.id) for e in subscriber)
    assert sub.attempts.filter(succeeded=True).count() == 3
