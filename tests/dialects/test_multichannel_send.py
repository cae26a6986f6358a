"""Seed 002: POST /resources/v1/messaging accepts, stores and answers as the seed says."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from messaging.dialects.multichannel.parse import parse_expiry
from messaging.models import Contact, ContactIdentifier, Message, MessageEvent, Template
from tests import factories

URL = "/resources/v1/messaging"


def post(client, key: str | None, body) -> tuple[int, dict]:
    raw = body if isinstance(body, str | bytes) else json.dumps(body)
    headers = {"HTTP_KEY": key} if key is not None else {}
    resp = client.post(URL, raw, content_type="application/json", **headers)
    return resp.status_code, resp.json()


@pytest.fixture
def app_channel(workspace):
    return factories.create_channel(workspace, "appmessaging", "sandbox", name="App")


@pytest.fixture
def service(workspace, sms_channel):
    return factories.create_service(workspace, "shop", default_priority=2)


def sms_request(*numbers: str, **extra) -> dict:
    return {
        "deliverychannel": "sms",
        "channels": {"sms": {"text": "Your code is 1234"}},
        "destination": [{"msisdn": list(numbers)}],
        **extra,
    }


def seed_example(template_id: str, notify_url: str, expiry: str) -> dict:
    """The seed's request body, key for key; only its <placeholders> got real values."""
    return {
        "correlationid": "client-tx-0001",
        "notifyurl": notify_url,
        "callbackData": "order-42",
        "expiry": expiry,
        "priority": "3",
        "message": {
            "template": template_id,
            "parameters": {"parameter1": "Ann", "parameter2": "blue", "parameter3": "42"},
        },
        "deliverychannel": "appmessaging",
        "channels": {
            "appmessaging": {
                "message": {
                    "text": "RTM_message",
                    "attachment": {"file": "http://203.0.113.7/image.jpg", "contentType": "image", "size": "10"},
                },
                "notification": {
                    "web_extras": {
                        "collapse_key": "web_col_key",
                        "action": "web_col_key",
                        "url": "https://example.com/offer",
                    },
                    "title": "notification_title",
                    "text": "notification_text",
                    "windows_extras": {
                        "logo": "http://203.0.113.7/logo.jpg",
                        "sound": "wind_not_sound",
                        "image": "http://203.0.113.7/image.jpg",
                        "badge": "wnd_badge",
                        "notificationaction": {"action": "OPEN_URL", "value": "https://example.com/offer"},
                    },
                    "interactive": {
                        "category": "DOUBLE_YES_NO",
                        "pushref": "pu_ref",
                        "actions": [
                            {"action": "OPEN_APP", "identifier": "YES", "pos": 1},
                            {"action": "OPEN_APP", "identifier": "NO", "pos": 2},
                        ],
                    },
                    "ios_extras": {
                        "attachmenturl": "http://203.0.113.7/image.jpg",
                        "collapse_key": "ios_col_key",
                        "sound": "ios_ex_sound",
                        "badge": "ios_badge_",
                        "notificationaction": {"action": "OPEN_URL", "value": "https://example.com/offer"},
                    },
                    "android_extras": {
                        "collapse_key": "and_col_key",
                        "sound": "android_not_sound",
                        "iconurl": "http://203.0.113.7/icon.jpg",
                        "customtags": {"imageurl": "and_not_image"},
                        "notificationaction": {"action": "OPEN_URL", "value": "https://example.com/offer"},
                    },
                },
                "thread_type": "conversation",
                "thread_title": "thread_title",
                "thread_id": "please enter the thread id for the message",
            }
        },
        "destination": [
            {
                "msisdn/customerid": ["14155550101", "+14155550102"],
                "correlationid": "dest-corr-1",
            },
            {
                "customerid": ["1001", "1002"],
                "correlationid": "dest-corr-2",
            },
        ],
    }


def test_the_seeds_example_request_works_verbatim(client, workspace, app_channel, settings):
    settings.ALLOW_PRIVATE_URLS = True
    service, key = factories.create_service(workspace, "app service")
    template = Template.objects.create(workspace=workspace, name="welcome", content={"appmessaging": {"text": "Hi"}})

    # The seed's own offset form (+5:30, no leading zero), 30 days ahead.
    ist = timezone.now().astimezone(timezone.get_fixed_timezone(330)).replace(microsecond=456000) + timedelta(days=30)
    expiry = ist.strftime("%Y-%m-%dT%H:%M:%S.456+5:30")

    status, body = post(client, key, seed_example(str(template.id), "http://127.0.0.1:9/notify", expiry))

    assert status == 202
    entries = body["response"]
    assert [(e["code"], e["description"], e["correlationid"]) for e in entries] == [
        ("1001", "Queued", "dest-corr-1"),
        ("1001", "Queued", "dest-corr-2"),
    ]
    assert len({e["transid"] for e in entries}) == 2
    first = Message.objects.filter(transid=entries[0]["transid"])
    second = Message.objects.filter(transid=entries[1]["transid"])
    # On appmessaging a msisdn/customerid value is a customer id (an app user's username).
    assert sorted(m.receiver["contacts"][0]["identifierValue"] for m in first) == ["+14155550102", "14155550101"]
    assert sorted(m.receiver["contacts"][0]["identifierValue"] for m in second) == ["1001", "1002"]
    assert {m.receiver["contacts"][0]["identifierKey"] for m in [*first, *second]} == {"customerid"}
    message = first.first()
    assert message.channel == app_channel and message.service == service
    assert message.status == "accepted" and message.priority == 3
    assert message.expires_at == ist.astimezone(UTC)
    assert (message.notify_url, message.callback_data, message.correlationid) == (
        "http://127.0.0.1:9/notify",
        "order-42",
        "dest-corr-1",
    )
    app = message.body["appmessaging"]
    assert message.body["type"] == "appmessaging" and message.text == "RTM_message"
    assert app["message"]["attachment"] == {"contentType": "image", "file": "http://203.0.113.7/image.jpg", "size": 10}
    assert app["notification"]["interactive"]["category"] == "DOUBLE_YES_NO"
    assert app["notification"]["android_extras"]["customtags"] == {"imageurl": "and_not_image"}
    assert (app["thread_type"], app["thread_title"]) == ("conversation", "thread_title")
    assert app["thread_id"] == "please enter the thread id for the message"
    assert MessageEvent.objects.filter(status="accepted").count() == 4


def test_one_entry_and_transid_per_destination_and_one_message_per_address(client, service, sms_channel):
    _, key = service
    body = sms_request("+14155550101", "+14155550102", correlationid="req-1")
    body["destination"].append({"msisdn": ["+14155550103"], "correlationid": "own"})

    status, answer = post(client, key, body)

    assert status == 202
    assert [e["correlationid"] for e in answer["response"]] == ["req-1", "own"]
    rows = Message.objects.order_by("transid")
    assert rows.count() == 3
    by_transid = {e["transid"]: Message.objects.filter(transid=e["transid"]).count() for e in answer["response"]}
    assert sorted(by_transid.values()) == [1, 2]
    assert set(rows.values_list("reference", flat=True)) == {"req-1", "own"}


def test_an_msisdn_without_plus_is_read_as_international(client, workspace, service):
    _, key = service
    assert post(client, key, sms_request("918886661353"))[0] == 202
    assert Message.objects.get().receiver["contacts"][0]["identifierValue"] == "+918886661353"


def test_msisdn_or_customerid_values_are_read_by_the_delivery_channel(client, workspace, sms_channel, app_channel):
    _, key = factories.create_service(workspace)

    def receivers(channel) -> dict:
        return {
            m.receiver["contacts"][0]["identifierValue"]: m.receiver["contacts"][0]["identifierKey"]
            for m in Message.objects.filter(channel=channel)
        }

    sms = {**sms_request(), "destination": [{"msisdn/customerid": ["+14155550109", "CUST-7"]}]}
    assert post(client, key, sms)[0] == 202
    assert receivers(sms_channel) == {"+14155550109": "phonenumber"}  # CUST-7 has no phone to text

    app = {
        "deliverychannel": "appmessaging",
        "channels": {"appmessaging": {"message": {"text": "hi"}, "thread_type": "conversation", "thread_title": "t"}},
        "destination": [{"msisdn/customerid": ["+14155550109", "CUST-7"]}],
    }
    assert post(client, key, app)[0] == 202
    assert receivers(app_channel) == {"+14155550109": "customerid", "CUST-7": "customerid"}


def test_an_existing_contact_is_reused_and_a_new_one_created(client, workspace, service):
    _, key = service
    known = factories.create_contact(workspace, phone="+14155550101")

    assert post(client, key, sms_request("+14155550101", "+14155550102"))[0] == 202

    assert Contact.objects.filter(workspace=workspace).count() == 2
    message = Message.objects.get(receiver__contacts__0__identifierValue="+14155550101")
    assert message.contact_id == known.id and list(message.contacts.all()) == [known]


def test_fallback_order_picks_the_first_served_channel_the_destination_has_an_address_for(
    client, workspace, sms_channel, email_channel
):
    _, key = factories.create_service(workspace)
    body = {
        "deliverychannel": "sms,email",
        "channels": {"sms": {"text": "by sms"}, "email": {"subject": "Hello", "text": "by email"}},
        "destination": [{"email": ["Ann@Example.com"]}, {"msisdn": ["+14155550101"], "email": ["b@example.com"]}],
    }

    status, answer = post(client, key, body)

    assert status == 202
    first = Message.objects.get(transid=answer["response"][0]["transid"])
    second = Message.objects.get(transid=answer["response"][1]["transid"])
    assert first.channel == email_channel and first.receiver["contacts"][0]["identifierValue"] == "ann@example.com"
    assert first.body == {"type": "text", "text": {"text": "by email", "metadata": {"subject": "Hello"}}}
    assert second.channel == sms_channel and second.text == "by sms"


def test_the_service_channel_map_decides_which_channel_serves(client, workspace, sms_channel):
    other = factories.create_channel(workspace, "sms", "sandbox", name="SMS 2")
    _, key = factories.create_service(workspace, channel_map={"sms": str(other.id)})

    assert post(client, key, sms_request("+14155550101"))[0] == 202

    assert Message.objects.get().channel == other


def test_email_html_and_from(client, workspace, email_channel):
    _, key = factories.create_service(workspace)
    body = {
        "deliverychannel": "email",
        "channels": {"email": {"subject": "Offer", "html": "<b>Hi</b>", "text": "Hi", "from": "shop@example.com"}},
        "destination": [{"email": ["ann@example.com"]}],
    }

    assert post(client, key, body)[0] == 202

    message = Message.objects.get()
    assert message.body == {"type": "html", "html": {"html": "<b>Hi</b>", "text": "Hi", "metadata": {"subject": "Offer"}}}
    assert message.sender == {"identifierKey": "emailaddress", "identifierValue": "shop@example.com"}


def test_a_template_fills_channels_without_a_block(client, workspace, sms_channel):
    _, key = factories.create_service(workspace)
    template = Template.objects.create(workspace=workspace, name="otp", content={"sms": {"text": "Code {{code}}"}})
    body = {
        "deliverychannel": "sms",
        "message": {"template": "otp", "parameters": {"code": "9876"}},
        "destination": [{"msisdn": ["+14155550101"]}],
    }

    assert post(client, key, body)[0] == 202

    message = Message.objects.get()
    assert message.text == "Code 9876"
    assert message.template == template and message.template_info["name"] == "otp"

    body["message"]["template"] = str(template.id)
    body["channels"] = {"sms": {"text": "Block wins, code {{code}}"}}
    assert post(client, key, body)[0] == 202
    assert Message.objects.get(template=None).text == "Block wins, code 9876"


@pytest.mark.parametrize(
    "sent,expected",
    [
        ("3", 3),
        (1, 1),
        ("2", 2),
        ("high", 2),
        (7, 2),
        (None, 2),
    ],
)
def test_priority_falls_back_to_the_service_default(client, workspace, sms_channel, sent, expected):
    _, key = factories.create_service(workspace, default_priority=2)
    body = sms_request("+14155550101")
    if sent is not None:
        body["priority"] = sent

    assert post(client, key, body)[0] == 202

    assert Message.objects.get().priority == expected


def test_a_service_default_priority_other_than_two_is_used(client, workspace, sms_channel):
    _, key = factories.create_service(workspace, default_priority=1)
    assert post(client, key, sms_request("+14155550101", priority="urgent"))[0] == 202
    assert Message.objects.get().priority == 1


@pytest.mark.parametrize(
    "text,expected",
    [
        ("2015-04-12T13:00:19.456Z", datetime(2015, 4, 12, 13, 0, 19, 456000, tzinfo=UTC)),
        ("2015-04-12T18:30:19.456+5:30", datetime(2015, 4, 12, 13, 0, 19, 456000, tzinfo=UTC)),
        ("2015-04-12T18:30:19.456+05:30", datetime(2015, 4, 12, 13, 0, 19, 456000, tzinfo=UTC)),
        ("2015-04-12T18:30:19+0530", datetime(2015, 4, 12, 13, 0, 19, tzinfo=UTC)),
        ("2015-04-12T08:00:00-5", datetime(2015, 4, 12, 13, 0, 0, tzinfo=UTC)),
        ("2015-04-12T13:00:19", datetime(2015, 4, 12, 13, 0, 19, tzinfo=UTC)),
    ],
)
def test_expiry_formats_of_the_seed_parse(text, expected):
    assert parse_expiry(text) == expected


def test_expiry_sets_expires_at_and_validity(client, service):
    _, key = service
    at = timezone.now() + timedelta(hours=2)
    expiry = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

    assert post(client, key, sms_request("+14155550101", expiry=expiry))[0] == 202

    message = Message.objects.get()
    assert abs((message.expires_at - at).total_seconds()) < 0.01
    assert 7190 <= message.validity <= 7200


def test_without_expiry_the_channel_validity_applies(client, service, sms_channel):
    _, key = service
    assert post(client, key, sms_request("+14155550101"))[0] == 202
    message = Message.objects.get()
    assert message.validity == sms_channel.default_validity
    assert message.expires_at == message.created_at + timedelta(seconds=sms_channel.default_validity)


def test_a_correlationid_of_exactly_50_bytes_is_accepted(client, service):
    _, key = service
    corr = "é" * 25  # 50 bytes in UTF-8
    status, answer = post(client, key, sms_request("+14155550101", correlationid=corr))
    assert status == 202
    assert answer["response"][0]["correlationid"] == corr


def _thousand(count: int) -> dict:
    return {
        "deliverychannel": "sms",
        "channels": {"sms": {"text": "Sale today {smartlink:5}"}},
        "destination": [{"msisdn": [f"+1415555{i:04d}"], "correlationid": f"c{i}"} for i in range(count)],
        "smartlinks": [{"linkid": 5}],
    }


def test_1000_destinations_cost_a_constant_number_of_queries(client, workspace, service):
    from messaging.models import ShortLink, SmartLink

    _, key = service
    SmartLink.objects.create(workspace=workspace, linkid=5, url="https://example.com/sale")

    def queries(count: int) -> int:
        with CaptureQueriesContext(connection) as ctx:
            status, answer = post(client, key, _thousand(count))
        assert status == 202 and len(answer["response"]) == count
        return len(ctx.captured_queries)

    few = queries(10)
    Message.objects.all().delete()
    Contact.objects.all().delete()
    many = queries(1000)

    # The same statements for 10 and 1000 destinations (SQLite builds limited to 32,766
    # variables per statement need one more INSERT for the ~55-column message rows).
    assert many - few <= (0 if connection.vendor == "postgresql" else 1)
    assert many <= 30
    assert Message.objects.count() == 1000
    assert ShortLink.objects.filter(message__isnull=False).count() == 1000
    assert Message.contacts.through.objects.count() == 1000
    assert MessageEvent.objects.count() == 1000
    assert ContactIdentifier.objects.filter(workspace=workspace).count() == 1000


def test_an_appmessaging_destination_reaches_the_app_users_inbox(
    client, workspace, monkeypatch, django_capture_on_commit_callbacks
):
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)  # dispatch runs inline on commit
    factories.create_channel(workspace, "appmessaging", "app", name="App inbox")
    factories.create_app_user(workspace, username="1001")
    _, key = factories.create_service(workspace)
    body = {
        "deliverychannel": "appmessaging",
        "channels": {"appmessaging": {"message": {"text": "Your order shipped"}, "thread_type": "conversation",
                                      "thread_title": "Orders"}},
        "destination": [{"customerid": ["1001", "nobody"]}],
    }

    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, key, body)[0] == 202

    outcome = {m.receiver["contacts"][0]["identifierValue"]: (m.status, m.reason) for m in Message.objects.all()}
    assert outcome["1001"][0] in ("sent", "delivered")  # in the user's inbox (delivered once the app reports)
    assert outcome["nobody"] == ("sending_failed", "app: no app user 'nobody' in this workspace")


def test_appmessaging_threads_get_a_conversation_each(client, workspace, monkeypatch, django_capture_on_commit_callbacks):
    from django_q.conf import Conf

    from messaging.models import Conversation

    monkeypatch.setattr(Conf, "SYNC", True)  # dispatch runs inline on commit
    channel = factories.create_channel(workspace, "appmessaging", "app", name="App inbox")
    user = factories.create_app_user(workspace, username="1001")
    _, key = factories.create_service(workspace)

    def send(text: str, thread_id: str | None) -> None:
        block = {"message": {"text": text}, "thread_type": "conversation", "thread_title": "Orders"}
        if thread_id is not None:
            block["thread_id"] = thread_id
        body = {"deliverychannel": "appmessaging", "channels": {"appmessaging": block},
                "destination": [{"customerid": ["1001"]}]}
        with django_capture_on_commit_callbacks(execute=True):
            assert post(client, key, body)[0] == 202

    send("order 1 shipped", "order-1")
    send("order 2 shipped", "order-2")
    send("order 1 delivered", "order-1")
    send("welcome", None)
    send("tips", None)

    threads = {
        c.thread: sorted(c.messages.values_list("body__appmessaging__text", flat=True))
        for c in Conversation.objects.filter(app_users=user, channel=channel)
    }
    assert threads == {
        "order-1": ["order 1 delivered", "order 1 shipped"],
        "order-2": ["order 2 shipped"],
        "": ["tips", "welcome"],
    }
