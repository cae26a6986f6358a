"""The endpoints that are csrf-exempt authenticate by something a cross-site page cannot
send (a service key header, apiKey/authToken fields, a webhook signature), so they work
for server clients with CSRF checks on; session-authenticated writes still need a token."""

import json

import pytest
from django.test import Client

from messaging.models import Direction, Message
from tests import factories
from tests.webhooks.test_inbound_hook import INBOUND, post


@pytest.fixture
def strict():
    return Client(enforce_csrf_checks=True)


def test_the_multichannel_api_needs_no_csrf_token(strict, workspace, sms_channel):
    _, key = factories.create_service(workspace, channel_map={"sms": str(sms_channel.id)})
    body = {"deliverychannel": "sms", "channels": {"sms": {"text": "hi"}}, "destination": [{"msisdn": ["+15551234567"]}]}
    resp = strict.post("/resources/v1/messaging", json.dumps(body), content_type="application/json", headers={"key": key})
    assert resp.status_code == 202
    assert resp.json()["response"][0]["code"] == "1001"


def test_the_user_message_api_needs_no_csrf_token(strict, workspace):
    _, key = factories.create_service(workspace)
    factories.create_app_user(workspace, "ann", "secret-pw")
    body = {"apiKey": key, "username": "ann", "password": "secret-pw"}
    resp = strict.post("/rest/user/login", json.dumps(body), content_type="application/json")
    assert resp.status_code == 200
    assert resp.json()["status"] == "OK" and resp.json()["authToken"]


def test_the_inbound_hook_needs_no_csrf_token(strict, sms_channel):
    resp = post(strict, sms_channel, INBOUND)
    assert resp.status_code == 200
    assert Message.objects.filter(channel=sms_channel, direction=Direction.INCOMING).count() == 1


def test_a_session_write_to_the_canonical_api_still_needs_a_csrf_token(strict, workspace):
    user = factories.create_user(workspace=workspace, role="admin")
    strict.force_login(user)
    resp = strict.post(f"/workspaces/{workspace.id}/tags", json.dumps({"name": "vip"}), content_type="application/json")
    assert resp.status_code == 403
    assert not workspace.tags.exists()
