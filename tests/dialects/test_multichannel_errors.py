"""Seed 002: every error code, its HTTP status and a description naming the problem."""

import json
from unittest import mock

import pytest

from messaging.models import Contact, Message, ShortLink, SmartLink
from tests import factories

URL = "/resources/v1/messaging"


@pytest.fixture
def key(workspace, sms_channel):
    return factories.create_service(workspace, "shop")[1]


def post(client, key, body, **headers):
    raw = body if isinstance(body, str | bytes) else json.dumps(body)
    if key is not None:
        headers["HTTP_KEY"] = key
    return client.post(URL, raw, content_type="application/json", **headers)


def error_of(resp) -> tuple[int, str, str]:
    body = resp.json()
    assert list(body) == ["response"] and len(body["response"]) == 1
    entry = body["response"][0]
    assert set(entry) == {"code", "description"}
    assert isinstance(entry["code"], str)
    return resp.status_code, entry["code"], entry["description"]


def valid(**overrides) -> dict:
    body = {
        "deliverychannel": "sms",
        "channels": {"sms": {"text": "hello"}},
        "destination": [{"msisdn": ["+14155550101"]}],
    }
    body.update(overrides)
    return body


def test_7002_when_the_key_header_is_missing(client, key):
    assert error_of(post(client, None, valid()))[:2] == (401, "7002")
    assert error_of(post(client, "  ", valid()))[:2] == (401, "7002")
    assert Message.objects.count() == 0


def test_7001_when_the_key_is_unknown(client, key):
    status, code, description = error_of(post(client, key[:-4] + "AAAA", valid()))
    assert (status, code) == (401, "7001")
    assert "Authentication failed" in description


def test_an_access_key_is_not_a_service_key(client, workspace, key):
    _, access_key = factories.create_access_key(workspace)
    assert error_of(post(client, access_key, valid()))[:2] == (401, "7001")


def test_7007_when_the_service_is_inactive(client, workspace, sms_channel):
    _, key = factories.create_service(workspace, "old", active=False)
    status, code, description = error_of(post(client, key, valid()))
    assert (status, code) == (403, "7007")
    assert "old" in description
    assert Message.objects.count() == 0


@pytest.mark.parametrize("raw", ["{not json", "", b"\xff\xfe", '{"a": NaN}'])
def test_7000_for_invalid_json(client, key, raw):
    status, code, _ = error_of(post(client, key, raw))
    assert (status, code) == (400, "7000")


def test_auth_is_checked_before_the_body(client, key):
    assert error_of(post(client, None, "{not json"))[1] == "7002"


@pytest.mark.parametrize(
    "change,field",
    [
        ({"deliverychannel": None}, "deliverychannel"),
        ({"deliverychannel": ""}, "deliverychannel"),
        ({"destination": None}, "destination"),
        ({"destination": []}, "destination"),
        ({"destination": [{"correlationid": "x"}]}, "destination[0]"),
        ({"channels": {}}, "channels.sms.text"),
        ({"channels": {"sms": {}}}, "channels.sms.text"),
        ({"channels": {"sms": {"text": "   "}}}, "channels.sms.text"),
        ({"smartlinks": [{"validity": 5}]}, "smartlinks[0].linkid"),
        ({"message": {"parameters": {}}}, "message.template"),
    ],
)
def test_7003_names_the_missing_mandatory_parameter(client, key, change, field):
    status, code, description = error_of(post(client, key, valid(**change)))
    assert (status, code) == (400, "7003")
    assert field in description
    assert Message.objects.count() == 0


def test_7003_for_the_mandatory_parts_of_an_appmessaging_block(client, workspace, key):
    factories.create_channel(workspace, "appmessaging", "sandbox", name="App")
    block = {"message": {"text": "hi"}, "thread_type": "conversation", "thread_title": "t"}
    base = valid(deliverychannel="appmessaging", destination=[{"userid": ["u1"]}])
    cases = [
        ({k: v for k, v in block.items() if k != "message"}, "channels.appmessaging.message"),
        ({**block, "message": {}}, "channels.appmessaging.message.text"),
        ({k: v for k, v in block.items() if k != "thread_title"}, "channels.appmessaging.thread_title"),
        ({**block, "notification": {"text": "x"}}, "channels.appmessaging.notification.title"),
        (
            {**block, "notification": {"title": "t", "text": "x", "interactive": {"category": "DOUBLE_YES_NO"}}},
            "channels.appmessaging.notification.interactive.actions",
        ),
        ({**block, "message": {"text": "x", "attachment": {"contentType": "image"}}}, "attachment.file"),
    ]
    for app, field in cases:
        status, code, description = error_of(post(client, key, {**base, "channels": {"appmessaging": app}}))
        assert (status, code) == (400, "7003"), field
        assert field in description


@pytest.mark.parametrize(
    "change,field",
    [
        ([], "request body"),
        ({"deliverychannel": "fax"}, "deliverychannel"),
        ({"deliverychannel": "sms,,email"}, "deliverychannel"),
        ({"deliverychannel": 5}, "deliverychannel"),
        ({"destination": {"msisdn": ["+14155550101"]}}, "destination"),
        ({"destination": ["+14155550101"]}, "destination[0]"),
        ({"destination": [{"msisdn": ["not a number"]}]}, "destination[0].msisdn[0]"),
        ({"destination": [{"msisdn": ["+14155550101", {"x": 1}]}]}, "destination[0].msisdn[1]"),
        ({"destination": [{"email": ["nope"]}]}, "destination[0].email[0]"),
        ({"destination": [{"email": ["a@example.com"]}]}, "destination[0]"),
        ({"destination": [{"msisdn/customerid": ["CUST-1"]}]}, "destination[0]"),
        ({"correlationid": "x" * 51}, "correlationid"),
        ({"correlationid": "é" * 26}, "correlationid"),
        ({"destination": [{"msisdn": ["+14155550101"], "correlationid": "y" * 51}]}, "destination[0].correlationid"),
        ({"expiry": "tomorrow"}, "expiry"),
        ({"expiry": "2015-04-12T13:00:19.456Z"}, "expiry"),
        ({"expiry": "2099-04-12T13:00:19+25:00"}, "expiry"),
        ({"expiry": "2099-04-12T13:00:19Z"}, "expiry"),
        ({"notifyurl": "ftp://example.com/x"}, "notifyurl"),
        ({"notifyurl": "http://169.254.169.254/latest/meta-data/"}, "notifyurl"),
        ({"notifyurl": "http://127.0.0.1:9/hook"}, "notifyurl"),
        ({"callbackData": {"a": 1}}, "callbackData"),
        ({"channels": {"sms": "hello"}}, "channels.sms"),
        ({"channels": []}, "channels"),
        ({"message": {"template": "nope"}}, "message.template"),
        ({"message": {"template": "x", "parameters": ["a"]}}, "message.parameters"),
        ({"smartlinks": [{"linkid": 404}]}, "smartlinks[0].linkid"),
        ({"smartlinks": [{"linkid": "abc"}]}, "smartlinks[0].linkid"),
        ({"smartlinks": [{"linkid": 1, "validity": -5}]}, "smartlinks[0].validity"),
        ({"channels": {"sms": {"text": "hi {smartlink:77}"}}}, "channels.sms"),
    ],
)
def test_7004_names_the_invalid_parameter(client, key, change, field):
    body = change if isinstance(change, list) else valid(**change)
    status, code, description = error_of(post(client, key, body))
    assert (status, code) == (400, "7004")
    assert field in description
    assert Message.objects.count() == 0 and Contact.objects.count() == 0


def test_7004_when_no_channel_serves_the_delivery_channel(client, workspace):
    _, key = factories.create_service(workspace)
    status, code, description = error_of(post(client, key, valid()))
    assert (status, code) == (400, "7004")
    assert "no channel serves deliverychannel sms" in description


def test_7004_when_the_mapped_channel_is_inactive(client, workspace):
    channel = factories.create_channel(workspace, "sms", "sandbox", name="Old SMS", status="inactive")
    _, key = factories.create_service(workspace, channel_map={"sms": str(channel.id)})
    status, code, description = error_of(post(client, key, valid()))
    assert (status, code) == (400, "7004")
    assert "Old SMS" in description and "inactive" in description


def test_7004_when_the_mapped_channel_belongs_to_another_workspace(client, workspace, other_workspace):
    foreign = factories.create_channel(other_workspace, "sms", "sandbox", name="Theirs")
    _, key = factories.create_service(workspace, channel_map={"sms": str(foreign.id)})
    status, code, description = error_of(post(client, key, valid()))
    assert (status, code) == (400, "7004")
    assert "does not exist in this workspace" in description
    assert Message.objects.count() == 0


def test_7004_for_an_inactive_smart_link(client, workspace, key):
    SmartLink.objects.create(workspace=workspace, linkid=3, url="https://example.com", active=False)
    status, code, description = error_of(post(client, key, valid(smartlinks=[{"linkid": 3}])))
    assert (status, code) == (400, "7004")
    assert "smartlinks[0].linkid" in description and "inactive" in description


def test_7004_for_a_template_variable_without_a_parameter(client, workspace, key):
    from messaging.models import Template

    Template.objects.create(workspace=workspace, name="t", content={"sms": {"text": "Hi {{name}}"}})
    body = valid(message={"template": "t", "parameters": {}})
    del body["channels"]
    status, code, description = error_of(post(client, key, body))
    assert (status, code) == (400, "7003")
    assert "message.parameters" in description and "name" in description


def test_7009_for_more_than_1000_destinations_and_nothing_is_stored(client, key):
    body = valid(destination=[{"msisdn": [f"+1415555{i:04d}"]} for i in range(1001)])
    status, code, description = error_of(post(client, key, body))
    assert (status, code) == (400, "7009")
    assert "1001" in description
    assert Message.objects.count() == 0 and Contact.objects.count() == 0


def test_7009_for_more_than_1000_addresses_in_all(client, key):
    body = valid(destination=[{"msisdn": [f"+1415555{i:04d}" for i in range(600)]}] * 2)
    assert error_of(post(client, key, body))[:2] == (400, "7009")
    assert Message.objects.count() == 0


def test_7006_for_an_internal_fault_is_logged_and_stores_nothing(client, key, caplog):
    with mock.patch("messaging.services.send.MessageEvent.objects.bulk_create", side_effect=RuntimeError("disk full")):
        status, code, description = error_of(post(client, key, valid()))
    assert (status, code) == (500, "7006")
    assert "disk full" not in description  # internals stay in the log
    assert any("multichannel POST" in r.getMessage() and r.exc_info for r in caplog.records)
    assert Message.objects.count() == 0 and ShortLink.objects.count() == 0


def test_other_methods_are_refused_in_the_envelope(client, key):
    resp = client.get(URL, HTTP_KEY=key)
    assert resp.status_code == 405 and resp["Allow"] == "POST"
    assert resp.json()["response"][0]["code"] == "7004"
