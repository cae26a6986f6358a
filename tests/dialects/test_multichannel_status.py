"""Seed 002: GET /resources/v1/messaging/status/{transid} — latest delivery status, own service only."""

import json

import pytest

from messaging.models import Message
from messaging.services import status as st
from tests import factories

URL = "/resources/v1/messaging"


@pytest.fixture
def service(workspace, sms_channel):
    return factories.create_service(workspace, "shop")


def send(client, key: str, numbers: list[str], correlationid: str = "corr-1") -> str:
    body = {
        "deliverychannel": "sms",
        "channels": {"sms": {"text": "hello"}},
        "destination": [{"msisdn": numbers, "correlationid": correlationid}],
    }
    resp = client.post(URL, json.dumps(body), content_type="application/json", HTTP_KEY=key)
    assert resp.status_code == 202
    return resp.json()["response"][0]["transid"]


def get_status(client, key: str, transid: str):
    return client.get(f"{URL}/status/{transid}", HTTP_KEY=key)


def test_it_reports_queued_then_the_latest_delivery_status(client, service):
    _, key = service
    transid = send(client, key, ["+14155550101"])

    body = get_status(client, key, transid).json()
    assert {k: body[k] for k in ("transid", "correlationid", "deliverychannel", "destination", "status", "code")} == {
        "transid": transid,
        "correlationid": "corr-1",
        "deliverychannel": "sms",
        "destination": "+14155550101",
        "status": "Queued",
        "code": "1001",
    }
    assert body["description"] == "Queued"

    message = Message.objects.get(transid=transid)
    st.transition(message, "sent")
    st.transition(message, "delivered")
    resp = get_status(client, key, transid)
    assert resp.status_code == 200
    body = resp.json()
    assert (body["status"], body["code"], body["description"]) == ("Delivered", "7500", "Delivered")
    message.refresh_from_db()
    assert body["timeStamp"] == message.last_status_at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]


@pytest.mark.parametrize(
    "path,expected",
    [
        (["sent"], ("Submitted", "7501", "Submitted")),
        (["processing", "sending_failed"], ("Failed", "7503", "Failed: provider said no")),
        (["sent", "delivery_failed"], ("Un-Delivered", "7502", "Undelivered: provider said no")),
        (["expired"], ("Un-Delivered", "7208", "Message expired")),
        (["skipped"], ("Failed", "7504", "Skipped: provider said no")),
        (["canceled"], ("Failed", "7505", "Canceled")),
    ],
)
def test_status_words_and_codes(client, service, path, expected):
    _, key = service
    transid = send(client, key, ["+14155550101"])
    message = Message.objects.get(transid=transid)
    for status in path:
        assert st.transition(message, status, reason="provider said no")
    body = get_status(client, key, transid).json()
    assert (body["status"], body["code"], body["description"]) == expected


def test_a_destination_with_several_addresses_lists_each(client, service):
    _, key = service
    transid = send(client, key, ["+14155550102", "+14155550101"])
    st.transition(Message.objects.get(receiver__contacts__0__identifierValue="+14155550102"), "sent")

    body = get_status(client, key, transid).json()

    assert body["destination"] == "+14155550101" and body["status"] == "Queued"
    assert [(i["destination"], i["deliveryStatus"]) for i in body["deliveryInfo"]] == [
        ("+14155550101", "Queued"),
        ("+14155550102", "Submitted"),
    ]


def test_an_unknown_transid_is_404_in_the_seeds_envelope(client, service):
    _, key = service
    resp = get_status(client, key, "no-such-transid")
    assert resp.status_code == 404
    assert resp.json()["response"][0]["code"] == "7004"


def test_another_services_transid_is_404(client, workspace, service):
    _, key = service
    transid = send(client, key, ["+14155550101"])
    _, other_key = factories.create_service(workspace, "other service")

    resp = get_status(client, other_key, transid)

    assert resp.status_code == 404
    assert "transid" in resp.json()["response"][0]["description"]


def test_a_service_of_another_workspace_can_never_read_the_transid(client, other_workspace, service):
    _, key = service
    transid = send(client, key, ["+14155550101"])
    factories.create_channel(other_workspace, "sms", "sandbox")
    _, foreign_key = factories.create_service(other_workspace, "shop")  # same name, other tenant
    send(client, foreign_key, ["+14155550101"])

    resp = get_status(client, foreign_key, transid)
    assert resp.status_code == 404
    assert transid not in json.dumps(resp.json()["response"][0].get("transid", ""))


def test_the_status_endpoint_needs_the_key(client, workspace, service):
    _, key = service
    transid = send(client, key, ["+14155550101"])
    assert client.get(f"{URL}/status/{transid}").status_code == 401
    assert client.get(f"{URL}/status/{transid}", HTTP_KEY="sbs_wrong").json()["response"][0]["code"] == "7001"
    inactive, inactive_key = factories.create_service(workspace, "paused", active=False)
    assert client.get(f"{URL}/status/{transid}", HTTP_KEY=inactive_key).status_code == 403
