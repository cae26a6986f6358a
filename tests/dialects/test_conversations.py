"""Conversations of the canonical API and the read action (SPEC §3.1, §3.5): list, get, a
conversation's messages, and marking read — which tells the phone that reported the
messages (UpdateMessagesStatus) and records its answer."""

import asyncio
import json
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from messaging.engine import codec, pump, routing, sync
from messaging.models import Conversation, Direction, EngineRequest, Message
from tests import factories

pytestmark = pytest.mark.django_db

PHONE = "+14155550101"


@pytest.fixture
def client(api, sender_key):
    return api.key(sender_key)


@pytest.fixture
def engine_channel(workspace):
    return factories.create_channel(workspace, "sms", "engine", name="Phones")


@pytest.fixture
def phone(engine_channel):
    """A connected phone of the engine channel."""
    endpoint, _ = factories.create_endpoint(engine_channel, name="phone A")
    type(endpoint).objects.filter(pk=endpoint.pk).update(
        connected=True, connection_state="CONNECTED", send_permission="ON", read_permission="ON"
    )
    endpoint.refresh_from_db()
    return endpoint


def phone_reports(endpoint, conversation_id="c1", message_ids=("m1", "m2")) -> Conversation:
    """The phone reports one conversation with unread messages (stored as the consumer does)."""
    party = {"address": PHONE, "addressType": "PhoneNumberAddress"}
    report = [
        {
            "id": conversation_id,
            "otherParticipants": [party],
            "messages": [
                {
                    "id": mid,
                    "payload": {"@type": "text", "text": f"text of {mid}"},
                    "status": "unread",
                    "createdTime": 1714557600000 + i,
                    "sender": party,
                }
                for i, mid in enumerate(message_ids)
            ],
            "unreadMessageCount": len(message_ids),
        }
    ]
    sync.conversations_reported(endpoint, "", json.dumps(report))
    return Conversation.objects.get(external_id=sync.device_ref(endpoint.id, conversation_id))


class DeviceGroup:
    """A stand-in for the phone's websocket session: a channel-layer channel in the device's
    group (messaging.engine.routing.group_name), registered as held by this process so the
    in-memory layer pushes to it (with Redis every push goes out anyway)."""

    def __init__(self, endpoint, monkeypatch):
        self.layer = get_channel_layer()
        self.name = async_to_sync(self.layer.new_channel)()
        async_to_sync(self.layer.group_add)(routing.group_name(endpoint.id), self.name)
        monkeypatch.setitem(pump._sessions, endpoint.id, self.name)
        self.group = routing.group_name(endpoint.id)

    def frames(self, timeout: float = 3.0) -> list[codec.Frame]:
        async def receive():
            return await asyncio.wait_for(self.layer.receive(self.name), timeout)

        message = async_to_sync(receive)()
        assert message["type"] == "engine.frames"
        return [codec.decode(raw, expect=codec.TO_DEVICE) for raw in message["frames"]]

    def silent(self) -> bool:
        try:
            self.frames(timeout=0.3)
        except TimeoutError:
            return True
        return False

    def leave(self) -> None:
        async_to_sync(self.layer.group_discard)(self.group, self.name)


@pytest.fixture
def device(phone, monkeypatch):
    group = DeviceGroup(phone, monkeypatch)
    yield group
    group.leave()


def conv_url(conversation, suffix: str = "") -> str:
    return f"/workspaces/{conversation.workspace_id}/conversations/{conversation.id}{suffix}"


def read_message_url(message) -> str:
    return f"/workspaces/{message.workspace_id}/channels/{message.channel_id}/messages/{message.id}/read"


def conversation_with(channel, contact, texts: list[tuple[str, str]], **fields) -> Conversation:
    """A conversation on `channel` with `contact` and messages (direction, text), oldest first."""
    start = timezone.now() - timedelta(hours=1)
    conversation = Conversation.objects.create(workspace=channel.workspace, channel=channel, **fields)
    conversation.participants.add(contact)
    for i, (direction, text) in enumerate(texts):
        factories.create_message(
            channel, contact, text=text, direction=direction, conversation=conversation,
            status="delivered", created_at=start + timedelta(minutes=i),
        )
    unread = sum(1 for direction, _ in texts if direction == Direction.INCOMING)
    Conversation.objects.filter(pk=conversation.pk).update(unread_count=unread)
    conversation.refresh_from_db()
    return conversation


# --- list / get / messages -----------------------------------------------------------------------


def test_it_lists_conversations_newest_updated_first_with_participants_and_last_message(
    api, viewer_key, workspace, sms_channel
):
    ann = factories.create_contact(workspace, phone="+12015550101", display_name="Ann")
    bob = factories.create_contact(workspace, phone="+12015550102", email="bob@example.com")
    older = conversation_with(sms_channel, ann, [("incoming", "hi"), ("outgoing", "hello Ann")])
    newer = conversation_with(sms_channel, bob, [("incoming", "ping")])
    empty = Conversation.objects.create(workspace=workspace, channel=sms_channel)
    now = timezone.now()
    Conversation.objects.filter(pk=older.pk).update(updated_at=now - timedelta(minutes=2))
    Conversation.objects.filter(pk=newer.pk).update(updated_at=now - timedelta(minutes=1))
    Conversation.objects.filter(pk=empty.pk).update(updated_at=now - timedelta(minutes=3))

    resp = api.key(viewer_key).get(f"/workspaces/{workspace.id}/conversations")

    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert "nextPageToken" not in body
    assert [c["id"] for c in body["results"]] == [str(newer.id), str(older.id), str(empty.id)]
    first, second, third = body["results"]
    assert first["channelId"] == str(sms_channel.id)
    assert first["unreadCount"] == 1
    assert first["participants"] == [
        {
            "contactId": str(bob.id),
            "displayName": "",
            "identifiers": [
                {"key": "phonenumber", "value": "+12015550102"},
                {"key": "emailaddress", "value": "bob@example.com"},
            ],
        }
    ]
    assert second["lastMessage"]["text"] == "hello Ann"
    assert second["lastMessage"]["direction"] == "outgoing"
    last = Message.objects.get(conversation=older, direction="outgoing")
    assert second["lastMessage"]["id"] == str(last.id)
    assert third["lastMessage"] is None and third["participants"] == []
    assert set(first) == {
        "id", "channelId", "endpointId", "externalId", "participants", "unreadCount", "lastMessage",
        "createdAt", "updatedAt",
    }


def test_it_pages_conversations_without_repeating_or_skipping_rows_with_equal_update_times(
    client, workspace, sms_channel
):
    same = timezone.now()
    made = [Conversation.objects.create(workspace=workspace, channel=sms_channel, updated_at=same) for _ in range(5)]
    seen, token = [], None
    for _ in range(5):
        params = {"limit": 2, **({"pageToken": token} if token else {})}
        body = client.get(f"/workspaces/{workspace.id}/conversations", params).json()
        seen += [c["id"] for c in body["results"]]
        token = body.get("nextPageToken")
        if not token:
            break
    assert len(seen) == 5 and set(seen) == {str(c.id) for c in made}


def test_it_filters_by_channel_and_unread(client, workspace, sms_channel, email_channel):
    ann = factories.create_contact(workspace, phone="+12015550101", email="ann@example.com")
    unread = conversation_with(sms_channel, ann, [("incoming", "hi")])
    read = conversation_with(sms_channel, ann, [("outgoing", "hello")])
    on_email = conversation_with(email_channel, ann, [("incoming", "mail")])
    url = f"/workspaces/{workspace.id}/conversations"

    def ids(params) -> set[str]:
        resp = client.get(url, params)
        assert resp.status_code == 200, resp.content
        return {c["id"] for c in resp.json()["results"]}

    assert ids({"channel": str(sms_channel.id)}) == {str(unread.id), str(read.id)}
    assert ids({"unread": "true"}) == {str(unread.id), str(on_email.id)}
    assert ids({"unread": "false"}) == {str(read.id)}
    assert ids({"channel": str(sms_channel.id), "unread": "true"}) == {str(unread.id)}


@pytest.mark.parametrize(
    "params, field",
    [({"channel": "nope"}, "channel"), ({"unread": "maybe"}, "unread"), ({"pageToken": "forged"}, "pageToken"),
     ({"limit": "0"}, "limit")],
)
def test_a_bad_list_parameter_is_a_422_naming_it(client, workspace, params, field):
    resp = client.get(f"/workspaces/{workspace.id}/conversations", params)
    assert resp.status_code == 422
    assert field in resp.json()["details"]


def test_the_list_costs_the_same_number_of_queries_for_one_or_many_rows(client, workspace, sms_channel):
    url = f"/workspaces/{workspace.id}/conversations"

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            resp = client.get(url)
        assert resp.status_code == 200
        return len(queries)

    def add(n: int) -> None:
        contact = factories.create_contact(workspace, phone=f"+1201555{n:04d}", email=f"c{n}@example.com")
        conversation_with(sms_channel, contact, [("incoming", "a"), ("outgoing", "b")])

    add(0)
    client.get(url)  # the key's last_used_at is touched on first use only
    one = count()
    for n in range(1, 8):
        add(n)
    assert len(client.get(url).json()["results"]) == 8
    assert count() == one


def test_it_gets_a_conversation_reported_by_a_phone(client, phone):
    conversation = phone_reports(phone)
    resp = client.get(conv_url(conversation))
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert body["id"] == str(conversation.id)
    assert body["externalId"] == "c1" and body["endpointId"] == str(phone.id)
    assert body["unreadCount"] == 2
    assert body["participants"][0]["identifiers"] == [{"key": "phonenumber", "value": PHONE}]
    assert body["lastMessage"]["text"] == "text of m2" and body["lastMessage"]["direction"] == "incoming"


def test_it_lists_a_conversations_messages_newest_first(client, workspace, sms_channel):
    ann = factories.create_contact(workspace, phone="+12015550101")
    conversation = conversation_with(sms_channel, ann, [("incoming", "one"), ("outgoing", "two"), ("incoming", "3")])
    elsewhere = conversation_with(sms_channel, ann, [("incoming", "other thread")])

    first = client.get(conv_url(conversation, "/messages"), {"limit": 2}).json()
    rest = client.get(conv_url(conversation, "/messages"), {"limit": 2, "pageToken": first["nextPageToken"]}).json()

    texts = [m["body"]["text"]["text"] for m in first["results"] + rest["results"]]
    assert texts == ["3", "two", "one"]
    assert "nextPageToken" not in rest
    assert first["results"][0]["read"] is False and first["results"][0]["conversationId"] == str(conversation.id)
    assert str(elsewhere.id) not in {m["conversationId"] for m in first["results"] + rest["results"]}
    outgoing = client.get(conv_url(conversation, "/messages"), {"direction": "outgoing"}).json()["results"]
    assert [m["body"]["text"]["text"] for m in outgoing] == ["two"]


# --- the read action ----------------------------------------------------------------------------


def test_reading_a_phones_conversation_tells_that_phone_and_records_its_answer(
    client, phone, device, django_capture_on_commit_callbacks
):
    conversation = phone_reports(phone)

    with django_capture_on_commit_callbacks(execute=True):
        resp = client.post(conv_url(conversation, "/read"))

    assert resp.status_code == 200, resp.content
    assert resp.json()["id"] == str(conversation.id) and resp.json()["unreadCount"] == 0
    conversation.refresh_from_db()
    assert conversation.unread_count == 0
    assert list(Message.objects.filter(conversation=conversation).values_list("read", flat=True)) == [True, True]
    [frame] = device.frames()
    assert frame.action == "UpdateMessagesStatus"
    assert frame.payload["conversationId"] == "c1"  # the phone's own ids, not ours
    assert sorted(json.loads(frame.payload["status"])["statusMap"]["read"]) == ["m1", "m2"]
    # The phone answers; the answer is recorded on the request.
    assert sync.status_replied(phone, frame.payload["token"])
    request = EngineRequest.objects.get(token=frame.payload["token"])
    assert request.outcome == "succeeded" and request.answered_at is not None
    assert request.conversation_id == conversation.id and request.sent_at is not None


def test_reading_it_again_changes_nothing_and_tells_the_phone_nothing(
    client, phone, device, django_capture_on_commit_callbacks
):
    conversation = phone_reports(phone)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(conv_url(conversation, "/read"))
    device.frames()
    with django_capture_on_commit_callbacks(execute=True):
        resp = client.post(conv_url(conversation, "/read"))
    assert resp.status_code == 200 and resp.json()["unreadCount"] == 0
    assert EngineRequest.objects.filter(action="UpdateMessagesStatus").count() == 1
    assert device.silent()


def test_a_read_while_the_phone_is_offline_waits_for_it(client, phone):
    conversation = phone_reports(phone)
    type(phone).objects.filter(pk=phone.pk).update(connected=False, connection_state="DISCONNECTED")

    resp = client.post(conv_url(conversation, "/read"))

    assert resp.status_code == 200 and resp.json()["unreadCount"] == 0
    request = EngineRequest.objects.get(action="UpdateMessagesStatus")
    # Unsent: the pump of the process that gets the phone's socket sends it on reconnect.
    assert request.sent_at is None and sorted(request.detail["read"]) == ["m1", "m2"]


def test_reading_a_conversation_that_no_phone_reported_marks_it_read(client, workspace, sms_channel):
    ann = factories.create_contact(workspace, phone="+12015550101")
    conversation = conversation_with(sms_channel, ann, [("incoming", "a"), ("incoming", "b"), ("outgoing", "c")])
    resp = client.post(conv_url(conversation, "/read"))
    assert resp.status_code == 200 and resp.json()["unreadCount"] == 0
    assert set(Message.objects.filter(conversation=conversation, direction="incoming").values_list("read", flat=True)) == {
        True
    }
    assert not EngineRequest.objects.exists()


def test_reading_one_message_tells_the_phone_about_that_message_only(
    client, phone, device, django_capture_on_commit_callbacks
):
    conversation = phone_reports(phone)
    message = Message.objects.get(external_id=sync.device_ref(phone.id, "m1"))

    with django_capture_on_commit_callbacks(execute=True):
        resp = client.post(read_message_url(message))

    assert resp.status_code == 200, resp.content
    assert resp.json()["id"] == str(message.id) and resp.json()["read"] is True
    assert Message.objects.get(external_id=sync.device_ref(phone.id, "m2")).read is False
    conversation.refresh_from_db()
    assert conversation.unread_count == 1
    [frame] = device.frames()
    assert frame.payload["conversationId"] == "c1"
    assert json.loads(frame.payload["status"]) == {"statusMap": {"read": ["m1"]}}


def test_reading_an_outgoing_message_is_a_409(client, workspace, sms_channel):
    message = factories.create_message(sms_channel, status="sent")
    resp = client.post(read_message_url(message))
    assert resp.status_code == 409
    assert resp.json()["code"] == "Conflict"
    assert "outgoing" in resp.json()["message"]
    message.refresh_from_db()
    assert message.read is False


def test_a_viewer_can_read_but_not_mark_read(api, viewer_key, workspace, sms_channel):
    ann = factories.create_contact(workspace, phone="+12015550101")
    conversation = conversation_with(sms_channel, ann, [("incoming", "a")])
    message = Message.objects.get(conversation=conversation)
    viewer = api.key(viewer_key)
    assert viewer.get(conv_url(conversation)).status_code == 200
    assert viewer.get(conv_url(conversation, "/messages")).status_code == 200
    for url in (conv_url(conversation, "/read"), read_message_url(message)):
        resp = viewer.post(url)
        assert resp.status_code == 403
        assert resp.json()["code"] == "Forbidden"
    message.refresh_from_db()
    conversation.refresh_from_db()
    assert message.read is False and conversation.unread_count == 1


def test_another_workspaces_conversation_is_404_like_a_missing_one(
    api, foreign_key, workspace, other_workspace, sms_channel
):
    ann = factories.create_contact(workspace, phone="+12015550101")
    conversation = conversation_with(sms_channel, ann, [("incoming", "a")])
    message = Message.objects.get(conversation=conversation)
    foreign = api.key(foreign_key)
    own = f"/workspaces/{other_workspace.id}/conversations"
    missing = "00000000-0000-4000-8000-000000000000"
    for suffix in ("", "/messages", "/read"):
        method = foreign.post if suffix == "/read" else foreign.get
        theirs = method(f"{own}/{conversation.id}{suffix}")  # its id under the caller's own workspace
        absent = method(f"{own}/{missing}{suffix}")
        assert theirs.status_code == absent.status_code == 404
        assert theirs.json() == absent.json()
        assert method(conv_url(conversation, suffix)).status_code == 404  # under its workspace
    assert foreign.get(own).json()["results"] == []
    assert foreign.post(read_message_url(message)).status_code == 404
    conversation.refresh_from_db()
    assert conversation.unread_count == 1 and Message.objects.get(pk=message.pk).read is False
