"""POST .../messages/{messageId}/cancel and services.send.cancel_message."""

from datetime import timedelta

import pytest
from django.utils import timezone

from messaging.errors import Conflict
from messaging.models import MessageEvent, Status
from messaging.services import send
from messaging.services import status as st
from tests import factories


def cancel_url(message) -> str:
    return f"/workspaces/{message.workspace_id}/channels/{message.channel_id}/messages/{message.id}/cancel"


@pytest.fixture
def client(api, sender_key):
    return api.key(sender_key)


def scheduled_message(channel):
    when = timezone.now() + timedelta(hours=1)
    return factories.create_message(channel, status=Status.SCHEDULED, scheduled_for=when, due_at=when)


def test_it_cancels_a_scheduled_message(client, sms_channel):
    message = scheduled_message(sms_channel)
    resp = client.post(cancel_url(message))
    assert resp.status_code == 200, resp.content
    assert resp.json()["status"] == "canceled"
    message.refresh_from_db()
    assert message.status == Status.CANCELED
    event = MessageEvent.objects.get(message=message)
    assert event.status == "canceled"
    assert event.actor.startswith("access key ")


def test_it_cancels_a_message_still_accepted(client, sms_channel):
    message = factories.create_message(sms_channel)
    assert client.post(cancel_url(message)).json()["status"] == "canceled"


@pytest.mark.parametrize("current", ["processing", "sent", "delivered", "canceled", "sending_failed"])
def test_it_refuses_to_cancel_any_other_status(client, sms_channel, current):
    message = factories.create_message(sms_channel, status=current)
    resp = client.post(cancel_url(message))
    assert resp.status_code == 409
    assert resp.json()["code"] == "Conflict"
    assert current in resp.json()["message"]
    message.refresh_from_db()
    assert message.status == current
    assert not MessageEvent.objects.filter(message=message).exists()


def test_it_refuses_to_cancel_an_incoming_message(client, sms_channel):
    message = factories.create_message(sms_channel, direction="incoming", status=Status.ACCEPTED)
    assert client.post(cancel_url(message)).status_code == 409


def test_it_reports_a_conflict_when_the_dispatcher_won_the_race(sms_channel):
    message = factories.create_message(sms_channel)
    stale = type(message).objects.get(id=message.id)
    st.transition(message, Status.PROCESSING)  # a worker claims it after `stale` was read
    with pytest.raises(Conflict):
        send.cancel_message(stale)
    stale.refresh_from_db()
    assert stale.status == Status.PROCESSING


def test_a_viewer_cannot_cancel(api, viewer_key, sms_channel):
    message = scheduled_message(sms_channel)
    assert api.key(viewer_key).post(cancel_url(message)).status_code == 403
    message.refresh_from_db()
    assert message.status == Status.SCHEDULED


def test_a_foreign_key_gets_404(api, foreign_key, sms_channel):
    message = scheduled_message(sms_channel)
    assert api.key(foreign_key).post(cancel_url(message)).status_code == 404
    message.refresh_from_db()
    assert message.status == Status.SCHEDULED


def test_cancel_needs_a_key(api, sms_channel):
    assert api.key(None).post(cancel_url(scheduled_message(sms_channel))).status_code == 401
