"""The envelope codec: every frame of seed 000 round-trips; everything else is refused."""

import json
from datetime import UTC, datetime

import pytest

from messaging.engine import codec


def envelope(action="SendMessageSucceeded", payload=None, **header):
    head = {
        "version": "4.0",
        "messageType": "Publish",
        "id": "frame-1",
        "messageDescription": {"topic": "Messaging", "action": action},
    }
    head.update(header)
    return json.dumps({"header": head, "payload": payload if payload is not None else {"token": "t1"}})


def test_it_builds_the_seed_envelope():
    frame = json.loads(codec.send_message("tok", "hi there", ["+15551234567"]))
    assert frame["header"]["version"] == "4.0"
    assert frame["header"]["messageType"] == "Publish"
    assert frame["header"]["messageDescription"] == {"topic": "Messaging", "action": "SendMessage"}
    assert frame["header"]["id"]
    assert frame["payload"]["token"] == "tok"
    assert frame["payload"]["message"] == "hi there"
    # recipients is a JSON *string*, as the seed says
    assert json.loads(frame["payload"]["recipients"]) == {
        "recipients": [{"address": "+15551234567", "addressType": "PhoneNumberAddress"}]
    }


def test_every_frame_gets_a_unique_id():
    ids = {json.loads(codec.upload_conversations("t"))["header"]["id"] for _ in range(100)}
    assert len(ids) == 100


@pytest.mark.parametrize(
    "text,action,payload",
    [
        (codec.send_message("t", "x", ["+1"]), "SendMessage", {"token": "t", "message": "x"}),
        (codec.upload_conversations("t"), "UploadConversations", {"token": "t"}),
        (codec.update_messages_status("t", "c1", ["m1", "m2"]), "UpdateMessagesStatus", {"conversationId": "c1"}),
    ],
)
def test_server_frames_decode_in_the_device_direction(text, action, payload):
    frame = codec.decode(text, expect=codec.TO_DEVICE)
    assert frame.action == action
    assert payload.items() <= frame.payload.items()


def test_status_map_is_a_json_string_of_read_ids():
    frame = codec.decode(codec.update_messages_status("t", "c1", ["m1", "m2"]), expect=codec.TO_DEVICE)
    assert json.loads(frame.payload["status"]) == {"statusMap": {"read": ["m1", "m2"]}}
    assert codec.parse_status_map(frame.payload["status"]) == {"read": ["m1", "m2"]}


@pytest.mark.parametrize(
    "text,action",
    [
        (codec.send_message_succeeded("t"), "SendMessageSucceeded"),
        (codec.send_message_failed("t", "NO_CONNECTIVITY", "no signal"), "SendMessageFailed"),
        (codec.update_messages_status_succeeded("t"), "UpdateMessagesStatusSucceeded"),
        (codec.update_messages_status_failed("t", "GENERIC_FAILURE"), "UpdateMessagesStatusFailed"),
        (codec.endpoint_state("CONNECTED", "ON", "OFF"), "UpdateMessagingEndpointState"),
        (codec.conversations_report([], token=""), "ConversationsReport"),
    ],
)
def test_device_frames_decode_in_the_server_direction(text, action):
    assert codec.decode(text).action == action


@pytest.mark.parametrize(
    "text,problem",
    [
        ("{not json", "invalid JSON"),
        ("[" * 100_000, "invalid JSON"),  # nesting deeper than the JSON parser's recursion limit
        ("[1, 2]", "not a JSON object"),
        (envelope(version="3.0"), "version"),
        (envelope(messageType="Request"), "messageType"),
        (envelope(id=""), "header.id"),
        (envelope(messageDescription={"topic": "Phone", "action": "SendMessageSucceeded"}), "topic"),
        (envelope("Reboot"), "unknown action"),
        (envelope("SendMessage", {"token": "t", "message": "x", "recipients": "{}"}), "unknown action"),
        (envelope(payload={}), "payload.token is required"),
        (envelope(payload={"token": 5}), "payload.token is required"),
        (envelope(payload={"token": ""}), "payload.token must not be empty"),
        (envelope("SendMessageFailed", {"token": "t", "code": "ON_FIRE"}), "payload.code must be one of"),
        (
            envelope(
                "UpdateMessagingEndpointState",
                {"connectionState": "MAYBE", "sendPermission": "ON", "readPermission": "ON"},
            ),
            "connectionState",
        ),
        (
            envelope("UpdateMessagingEndpointState", {"connectionState": "CONNECTED", "sendPermission": "ON"}),
            "readPermission",
        ),
        (json.dumps({"payload": {"token": "t"}}), "header missing"),
    ],
)
def test_it_refuses_bad_frames_with_a_reason(text, problem):
    with pytest.raises(codec.FrameError) as exc:
        codec.decode(text)
    assert problem in exc.value.reason


def test_it_refuses_oversized_frames(settings):
    settings.ENGINE_MAX_FRAME_BYTES = 1000
    text = codec.conversations_report([{"id": "c", "messages": [], "otherParticipants": [], "note": "x" * 2000}])
    with pytest.raises(codec.FrameError, match="over the 1000 byte limit"):
        codec.decode(text)


def test_an_unsolicited_report_may_have_an_empty_token():
    assert codec.decode(codec.conversations_report([])).payload["token"] == ""


def test_it_parses_a_conversations_report():
    raw = json.dumps(
        [
            {
                "id": "c1",
                "otherParticipants": [{"address": "+15550001111", "addressType": "PhoneNumberAddress"}],
                "messages": [
                    {
                        "id": "m1",
                        "payload": {"@type": "text", "text": "hi"},
                        "status": "unread",
                        "createdTime": "2024-05-01T10:00:00Z",
                        "sender": {"address": "+15550001111", "addressType": "PhoneNumberAddress"},
                    }
                ],
                "unreadMessageCount": 1,
            }
        ]
    )
    [conversation] = codec.parse_conversations(raw)
    assert conversation.id == "c1"
    assert conversation.participants == ["+15550001111"]
    assert conversation.unread_count == 1
    [message] = conversation.messages
    assert (message.id, message.text, message.sender, message.unread) == ("m1", "hi", "+15550001111", True)
    assert message.created == datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "raw,problem",
    [
        ('{"id": "c1"}', "must be a JSON array"),
        ('[{"messages": []}]', "conversations[0].id"),
        ('[{"id": "c1", "messages": [{"id": "m1", "payload": {"text": "x"}}]}]', "messages[0].sender"),
        ('[{"id": "c1", "unreadMessageCount": -1}]', "unreadMessageCount"),
        ("not json", "not valid JSON"),
    ],
)
def test_it_refuses_malformed_conversations(raw, problem):
    with pytest.raises(codec.FrameError) as exc:
        codec.parse_conversations(raw)
    assert problem in exc.value.reason


@pytest.mark.parametrize(
    "value,expected",
    [
        ("2024-05-01T10:00:00Z", datetime(2024, 5, 1, 10, 0, tzinfo=UTC)),
        ("2024-05-01T12:00:00+02:00", datetime(2024, 5, 1, 10, 0, tzinfo=UTC)),
        (1714557600, datetime(2024, 5, 1, 10, 0, tzinfo=UTC)),
        (1714557600000, datetime(2024, 5, 1, 10, 0, tzinfo=UTC)),
        ("1714557600000", datetime(2024, 5, 1, 10, 0, tzinfo=UTC)),
        (None, None),
    ],
)
def test_created_time_accepts_iso_and_epoch_seconds_or_milliseconds(value, expected):
    assert codec.parse_time(value) == expected


def test_created_time_refuses_garbage():
    with pytest.raises(codec.FrameError, match="ISO 8601"):
        codec.parse_time("yesterday")


def test_it_will_not_build_a_frame_missing_a_field():
    with pytest.raises(codec.FrameError, match="payload.recipients"):
        codec.encode("SendMessage", {"token": "t", "message": "x"})
