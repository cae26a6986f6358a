"""The 14 message resources of seed 003, each in JSON and in XML, on the app user's own
inbox: user-to-user sends, SMS to non-users, locks, sync, and isolation between users and
workspaces."""

from datetime import UTC, datetime

import pytest

from messaging.engine import codec as engine_codec
from messaging.engine.sync import device_ref
from messaging.models import (
    AppDevice,
    Contact,
    Conversation,
    Direction,
    EngineRequest,
    Message,
    MessageEvent,
    SandboxSend,
    Status,
)
from messaging.services.receive import receive_message
from tests import factories
from tests.dialects.user_api import Setup

FORMATS = ["json", "xml"]


@pytest.fixture(params=FORMATS)
def s(request, workspace):
    return Setup(workspace, fmt=request.param)


@pytest.fixture
def q_sync(monkeypatch):
    """django-q2 runs tasks inline, so an accepted SMS is dispatched on commit."""
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)


def send(api, recipient, text="hello"):
    response = api.post("message/send", {"recipient": recipient, "text": text})
    assert response.ok, response.data
    return response["message"]


def events(message_id) -> list[str]:
    return list(MessageEvent.objects.filter(message_id=message_id).order_by("at", "id").values_list("status", flat=True))


# --- send ------------------------------------------------------------------------------------


def test_send_to_a_username_lands_in_the_recipients_conversation_at_once(s):
    alice, bob = s.api("alice"), s.api("bob@example.com")
    sent = send(alice, "bob@example.com", "lunch?")
    assert sent["sender"] == "alice" and sent["recipient"] == "bob@example.com"
    assert sent["direction"] == "out" and sent["text"] == "lunch?"
    assert sent["read"] is False and sent["locked"] is False
    assert abs(sent["timestamp"] - datetime.now(UTC).timestamp()) < 60

    outgoing = Message.objects.get(pk=sent["messageId"])
    assert outgoing.status == Status.DELIVERED
    assert events(outgoing.id) == [Status.ACCEPTED, Status.DELIVERED]

    conversations = bob.post("message/conversations/get")["conversations"]
    assert len(conversations) == 1
    conversation = conversations[0]
    assert conversation["participants"] == [{"username": "alice", "msisdn": "+4915112345678"}]
    assert conversation["unreadCount"] == 1
    last = conversation["lastMessage"]
    assert (last["direction"], last["sender"], last["recipient"], last["text"]) == ("in", "alice", "bob@example.com", "lunch?")
    assert last["messageId"] != sent["messageId"]  # bob's own copy
    assert conversation["conversationId"] != sent["conversationId"]


def test_send_to_the_msisdn_of_a_user_reaches_that_user(s):
    alice, bob = s.api("alice"), s.api("bob@example.com")
    sent = send(alice, "+49 151 87654321", "by number")
    assert sent["recipient"] == "bob@example.com"
    received = bob.post("message/search", {"query": "by number"})["messages"]
    assert [m["direction"] for m in received] == ["in"]
    assert not SandboxSend.objects.exists()


def test_send_to_a_number_that_is_no_user_goes_out_as_sms_with_status_tracking(
    s, q_sync, django_capture_on_commit_callbacks
):
    sms = factories.create_channel(s.workspace, "sms", "sandbox", name="SMS")
    alice = s.api("alice")
    with django_capture_on_commit_callbacks(execute=True):
        sent = send(alice, "+4917600000001", "see you")
    assert sent["recipient"] == "+4917600000001" and sent["direction"] == "out"
    message = Message.objects.get(pk=sent["messageId"])
    assert message.channel == sms and message.direction == Direction.OUTGOING
    assert message.service == s.service
    assert message.receiver["contacts"][0]["identifierValue"] == "+4917600000001"
    assert message.status == Status.DELIVERED
    assert events(message.id) == [Status.ACCEPTED, Status.PROCESSING, Status.SENT, Status.DELIVERED]
    assert SandboxSend.objects.filter(message=message, channel=sms).count() == 1
    conversation = alice.post("message/conversations/get")["conversations"][0]
    assert conversation["participants"] == [{"username": "", "msisdn": "+4917600000001"}]
    assert conversation["conversationId"] == sent["conversationId"]


def test_an_sms_reply_lands_in_the_users_conversation(s, q_sync, django_capture_on_commit_callbacks):
    sms = factories.create_channel(s.workspace, "sms", "sandbox", name="SMS")
    alice = s.api("alice")
    with django_capture_on_commit_callbacks(execute=True):
        sent = send(alice, "+4917600000001", "see you")
        receive_message(sms, "phonenumber", "+4917600000001", {"type": "text", "text": {"text": "ok!"}})
    messages = alice.post("message/get/by/conversation", {"conversationId": sent["conversationId"]})["messages"]
    assert [(m["direction"], m["sender"], m["text"]) for m in messages] == [
        ("in", "+4917600000001", "ok!"),
        ("out", "alice", "see you"),
    ]


def test_sending_sms_needs_the_sender_to_have_an_msisdn_113(s):
    factories.create_channel(s.workspace, "sms", "sandbox", name="SMS")
    response = s.api("carol").post("message/send", {"recipient": "+4917600000001", "text": "hi"})
    assert response.error() == (400, 113)
    assert "msisdn" in response["errorMessage"]
    assert not Message.objects.exists()
    assert not Contact.objects.exists()  # a refused send leaves nothing behind


def test_sending_sms_without_an_sms_channel_is_denied(s):
    response = s.api("alice").post("message/send", {"recipient": "+4917600000001", "text": "hi"})
    assert response.error() == (403, 97)
    assert "no active SMS channel" in response["errorMessage"]
    assert not Message.objects.exists()


def test_send_to_something_that_is_neither_user_nor_number_is_2(s):
    response = s.api("alice").post("message/send", {"recipient": "nobody", "text": "hi"})
    assert response.error() == (400, 2)
    assert response["errorMessage"].startswith("recipient:")


# --- conversations ---------------------------------------------------------------------------------


def test_conversations_get_pages_most_recent_first(s):
    alice = s.api("alice")
    send(alice, "bob@example.com", "first")
    send(alice, "carol", "second")
    page = alice.post("message/conversations/get", {"offset": 0, "limit": 1})["conversations"]
    assert [c["participants"][0]["username"] for c in page] == ["carol"]
    page = alice.post("message/conversations/get", {"offset": 1, "limit": 1})["conversations"]
    assert [c["participants"][0]["username"] for c in page] == ["bob@example.com"]
    assert page[0]["lastMessage"]["text"] == "first" and page[0]["unreadCount"] == 0
    bad = alice.post("message/conversations/get", {"limit": 0})
    assert bad.error() == (400, 2) and bad["errorMessage"].startswith("limit:")


def test_conversations_read_marks_them_read_and_gives_the_sender_a_read_receipt(s):
    alice, bob = s.api("alice"), s.api("bob@example.com")
    sent = send(alice, "bob@example.com", "one")
    send(alice, "bob@example.com", "two")
    conversation = bob.post("message/conversations/get")["conversations"][0]
    assert conversation["unreadCount"] == 2
    response = bob.post("message/conversations/read", {"conversationId": conversation["conversationId"]})
    assert response.ok and set(response.data) == {"status"}
    assert bob.post("message/conversations/get")["conversations"][0]["unreadCount"] == 0
    messages = bob.post("message/get/by/conversation", {"conversationId": conversation["conversationId"]})["messages"]
    assert all(m["read"] for m in messages)
    assert Message.objects.get(pk=sent["messageId"]).read is True  # alice's row: read by bob


def test_reading_a_conversation_that_came_from_a_phone_tells_the_phone(s, django_capture_on_commit_callbacks):
    engine = factories.create_channel(s.workspace, "sms", "engine", name="Phones")
    endpoint, _ = factories.create_endpoint(engine)
    conversation = Conversation.objects.create(
        workspace=s.workspace, channel=engine, endpoint=endpoint, external_id=device_ref(endpoint.id, "7")
    )
    conversation.app_users.add(s.alice)
    with django_capture_on_commit_callbacks(execute=True):
        receive_message(
            engine, "phonenumber", "+4917600000009", {"type": "text", "text": {"text": "from a phone"}},
            external_id=device_ref(endpoint.id, "m1"), conversation=conversation, endpoint=endpoint,
        )
    alice = s.api("alice")
    [listed] = alice.post("message/conversations/get")["conversations"]
    assert listed["unreadCount"] == 1 and listed["participants"][0]["msisdn"] == "+4917600000009"
    assert alice.post("message/conversations/read", {"conversationId": str(conversation.id)}).ok
    request = EngineRequest.objects.get(endpoint=endpoint, action=engine_codec.UPDATE_MESSAGES_STATUS)
    assert request.detail["read"] == ["m1"]
    assert Message.objects.get(external_id=device_ref(endpoint.id, "m1")).read is True


def test_conversations_delete_removes_it_and_its_messages(s):
    alice = s.api("alice")
    sent = send(alice, "bob@example.com")
    response = alice.post("message/conversations/delete", {"conversationId": sent["conversationId"]})
    assert response.ok and set(response.data) == {"status"}
    assert alice.post("message/conversations/get")["conversations"] == []
    assert Message.objects.get(pk=sent["messageId"]).deleted is True
    gone = alice.post("message/get/by/conversation", {"conversationId": sent["conversationId"]})
    assert gone.error() == (403, 97)
    # bob's copy is his: untouched.
    assert len(s.api("bob@example.com").post("message/conversations/get")["conversations"]) == 1


def test_conversations_delete_list_counts_and_refuses_locked_messages(s):
    alice = s.api("alice")
    one, two = send(alice, "bob@example.com"), send(alice, "carol")
    ids = [one["conversationId"], two["conversationId"]]
    assert alice.post("message/lock/list", {"messageIds": [two["messageId"]]})["locked"] == 1
    refused = alice.post("message/conversations/delete/list", {"conversationIds": ids})
    assert refused.error() == (403, 97) and two["messageId"] in refused["errorMessage"]
    assert len(alice.post("message/conversations/get")["conversations"]) == 2  # nothing changed
    alice.post("message/unlock/list", {"messageIds": [two["messageId"]]})
    response = alice.post("message/conversations/delete/list", {"conversationIds": ids})
    assert response.ok and response["deleted"] == 2
    assert alice.post("message/conversations/get")["conversations"] == []


# --- messages --------------------------------------------------------------------------------------------


def test_get_by_conversation_pages_newest_first(s):
    alice = s.api("alice")
    for text in ("a", "b", "c"):
        sent = send(alice, "carol", text)
    cid = sent["conversationId"]
    page = alice.post("message/get/by/conversation", {"conversationId": cid, "limit": 2})["messages"]
    assert [m["text"] for m in page] == ["c", "b"]
    page = alice.post("message/get/by/conversation", {"conversationId": cid, "offset": 2})["messages"]
    assert [m["text"] for m in page] == ["a"]
    assert alice.post("message/get/by/conversation", {}).error() == (400, 2)
    bad = alice.post("message/get/by/conversation", {"conversationId": "not-an-id"})
    assert bad.error() == (400, 2) and bad["errorMessage"].startswith("conversationId:")


def test_insert_stores_an_incoming_message_for_the_user(s):
    alice = s.api("alice")
    response = alice.post("message/insert", {"sender": "+4917600000005", "text": "note", "timestamp": 1700000000})
    assert response.ok, response.data
    message = response["message"]
    assert (message["direction"], message["sender"], message["recipient"]) == ("in", "+4917600000005", "alice")
    assert message["timestamp"] == 1700000000 and message["read"] is False
    [conversation] = alice.post("message/conversations/get")["conversations"]
    assert conversation["unreadCount"] == 1 and conversation["conversationId"] == message["conversationId"]
    from_user = alice.post("message/insert", {"sender": "bob@example.com", "text": "from bob"})["message"]
    assert from_user["sender"] == "bob@example.com"
    assert s.api("bob@example.com").post("message/conversations/get")["conversations"] == []
    assert alice.post("message/insert", {"sender": "bob@example.com"}).error() == (400, 2)
    bad = alice.post("message/insert", {"sender": "bob@example.com", "text": "x", "timestamp": "soon"})
    assert bad.error() == (400, 2) and bad["errorMessage"].startswith("timestamp:")


def test_update_changes_text_and_read(s):
    alice = s.api("alice")
    inserted = alice.post("message/insert", {"sender": "bob@example.com", "text": "old"})["message"]
    response = alice.post("message/update", {"messageId": inserted["messageId"], "text": "new", "read": True})
    assert response.ok, response.data
    assert (response["message"]["text"], response["message"]["read"]) == ("new", True)
    assert alice.post("message/conversations/get")["conversations"][0]["unreadCount"] == 0
    response = alice.post("message/update", {"messageId": inserted["messageId"], "read": False})
    assert response["message"]["read"] is False
    assert alice.post("message/conversations/get")["conversations"][0]["unreadCount"] == 1
    assert alice.post("message/update", {"messageId": inserted["messageId"]}).error() == (400, 2)


def test_locked_messages_can_be_neither_updated_nor_deleted(s):
    alice = s.api("alice")
    sent = send(alice, "carol", "keep me")
    mid = sent["messageId"]
    assert alice.post("message/lock/list", {"messageIds": [mid]})["locked"] == 1
    before = Message.objects.get(pk=mid)
    for resource, fields in (
        ("message/update", {"messageId": mid, "text": "changed"}),
        ("message/update", {"messageId": mid, "read": True}),
        ("message/delete", {"messageId": mid}),
        ("message/delete/list", {"messageIds": [mid]}),
    ):
        response = alice.post(resource, fields)
        assert response.error() == (403, 97), resource
        assert "locked" in response["errorMessage"]
    after = Message.objects.get(pk=mid)
    assert (after.body, after.read, after.deleted, after.updated_at) == (before.body, before.read, False, before.updated_at)
    listed = alice.post("message/get/by/conversation", {"conversationId": sent["conversationId"]})["messages"]
    assert [(m["text"], m["locked"]) for m in listed] == [("keep me", True)]


def test_lock_and_unlock_list_count_the_messages_they_changed(s):
    alice = s.api("alice")
    ids = [send(alice, "carol", t)["messageId"] for t in ("a", "b")]
    assert alice.post("message/lock/list", {"messageIds": [ids[0]]})["locked"] == 1
    assert alice.post("message/lock/list", {"messageIds": ids})["locked"] == 1
    assert Message.objects.filter(pk__in=ids, locked=True).count() == 2
    assert alice.post("message/unlock/list", {"messageIds": ids})["unlocked"] == 2
    assert alice.post("message/unlock/list", {"messageIds": ids})["unlocked"] == 0
    assert alice.post("message/lock/list", {}).error() == (400, 2)


def test_delete_and_delete_list(s):
    alice = s.api("alice")
    ids = [send(alice, "carol", t)["messageId"] for t in ("a", "b", "c")]
    response = alice.post("message/delete", {"messageId": ids[0]})
    assert response.ok and set(response.data) == {"status"}
    response = alice.post("message/delete/list", {"messageIds": ids[1:]})
    assert response.ok and response["deleted"] == 2
    assert Message.objects.filter(pk__in=ids, deleted=True).count() == 3
    assert alice.post("message/search", {"query": "a"})["messages"] == []
    assert alice.post("message/delete", {"messageId": ids[0]}).error() == (403, 97)  # already gone


def test_search_finds_the_users_messages_by_text(s):
    alice, bob = s.api("alice"), s.api("bob@example.com")
    send(alice, "bob@example.com", "Meeting at noon")
    send(alice, "carol", "nothing here")
    send(bob, "carol", "meeting of bob")  # bob's, not alice's
    found = alice.post("message/search", {"query": "MEETING"})["messages"]
    assert [m["text"] for m in found] == ["Meeting at noon"]
    assert alice.post("message/search", {"query": "e", "limit": 1})["messages"][0]["text"] == "nothing here"
    assert alice.post("message/search", {}).error() == (400, 2)


def test_sync_returns_changes_and_deletions_since_the_devices_last_sync(s):
    alice = s.api("alice", device_id="phone-1")
    first_msg = send(alice, "carol", "one")
    first = alice.post("message/sync", {"deviceId": "phone-1"})
    assert first.ok, first.data
    assert [m["text"] for m in first["messages"]] == ["one"]
    assert first["deletedMessageIds"] == []
    assert abs(first["syncTimestamp"] - datetime.now(UTC).timestamp()) < 60
    assert AppDevice.objects.get(device_id="phone-1").last_sync_at is not None

    again = alice.post("message/sync", {"deviceId": "phone-1"})
    assert again["messages"] == [] and again["deletedMessageIds"] == [] and again["hasMore"] is False

    new = send(alice, "bob@example.com", "two")
    alice.post("message/delete", {"messageId": first_msg["messageId"]})
    changes = alice.post("message/sync", {"deviceId": "phone-1"})
    assert [m["messageId"] for m in changes["messages"]] == [new["messageId"]]
    assert changes["deletedMessageIds"] == [first_msg["messageId"]]

    # `since` overrides the device's own record (inclusive).
    replay = alice.post("message/sync", {"deviceId": "phone-1", "since": first["syncTimestamp"]})
    assert new["messageId"] in [m["messageId"] for m in replay["messages"]]
    assert replay["deletedMessageIds"] == [first_msg["messageId"]]


def test_sync_comes_in_pages_that_end_on_a_whole_second_and_miss_nothing(s, settings):
    from datetime import timedelta

    from django.utils import timezone

    settings.USER_API_SYNC_PAGE_SIZE = 2
    alice = s.api("alice", device_id="phone-1")
    sent = [send(alice, "carol", f"m{i}")["messageId"] for i in range(6)]
    base = (timezone.now() - timedelta(minutes=1)).replace(microsecond=0)
    # m0-m2 in one second, m3 and m4 at one instant of the next, m5 a second later.
    for message_id, seconds in zip(sent, (0.1, 0.2, 0.7, 1.3, 1.3, 2.5), strict=True):
        Message.objects.filter(pk=message_id).update(updated_at=base + timedelta(seconds=seconds))

    def page(**extra):
        answer = alice.post("message/sync", {"deviceId": "phone-1", **extra})
        assert answer.ok, answer.data
        return sorted(m["text"] for m in answer["messages"]), answer["hasMore"], answer["syncTimestamp"]

    first = page()
    assert first[:2] == (["m0", "m1", "m2"], True)  # two, then the rest of their second
    assert first[2] == int(base.timestamp()) + 1  # the next whole second
    second = page()
    assert second[:2] == (["m3", "m4"], True)
    assert page()[:2] == (["m5"], False)
    assert page()[0] == []  # nothing twice

    # A client that passes syncTimestamp back as `since` (inclusive) moves on the same way.
    assert page(since=first[2])[:2] == (["m3", "m4"], True)
    assert page(since=second[2])[:2] == (["m5"], False)


def test_sync_of_an_unknown_device_is_105(s):
    alice = s.api("alice", device_id="phone-1")
    response = alice.post("message/sync", {"deviceId": "phone-2"})
    assert response.error() == (400, 105)
    # bob's device is not alice's either.
    s.api("bob@example.com", device_id="bobs-phone")
    assert alice.post("message/sync", {"deviceId": "bobs-phone"}).error() == (400, 105)
    assert alice.post("message/sync", {}).error() == (400, 2)


# --- isolation ---------------------------------------------------------------------------------------------


def test_another_users_conversations_and_messages_are_denied_and_unchanged(s):
    alice, bob = s.api("alice"), s.api("bob@example.com")
    sent = send(alice, "carol", "private")
    mid, cid = sent["messageId"], sent["conversationId"]
    attempts = [
        ("message/update", {"messageId": mid, "text": "hacked"}),
        ("message/delete", {"messageId": mid}),
        ("message/delete/list", {"messageIds": [mid]}),
        ("message/lock/list", {"messageIds": [mid]}),
        ("message/unlock/list", {"messageIds": [mid]}),
        ("message/get/by/conversation", {"conversationId": cid}),
        ("message/conversations/read", {"conversationId": cid}),
        ("message/conversations/delete", {"conversationId": cid}),
        ("message/conversations/delete/list", {"conversationIds": [cid]}),
    ]
    before = Message.objects.get(pk=mid)
    for resource, fields in attempts:
        assert bob.post(resource, fields).error() == (403, 97), resource
    after = Message.objects.get(pk=mid)
    assert (after.body, after.locked, after.deleted) == (before.body, before.locked, before.deleted)
    assert bob.post("message/search", {"query": "private"})["messages"] == []


def test_another_workspace_sees_and_changes_nothing(s, other_workspace):
    alice = s.api("alice")
    sent = send(alice, "bob@example.com", "acme only")
    foreign = Setup(other_workspace, fmt=s.fmt)  # has its own alice and bob@example.com
    intruder = foreign.api("alice")
    assert intruder.post("message/conversations/get")["conversations"] == []
    assert intruder.post("message/search", {"query": "acme"})["messages"] == []
    for resource, fields in (
        ("message/update", {"messageId": sent["messageId"], "text": "x"}),
        ("message/delete/list", {"messageIds": [sent["messageId"]]}),
        ("message/conversations/delete", {"conversationId": sent["conversationId"]}),
    ):
        assert intruder.post(resource, fields).error() == (403, 97), resource
    # Their send to "bob@example.com" reaches their own bob, not ours.
    send(intruder, "bob@example.com", "globex hello")
    ours = s.api("bob@example.com").post("message/search", {"query": "hello"})["messages"]
    assert ours == []
    assert Message.objects.get(pk=sent["messageId"]).text == "acme only"
    # And alice's token is no good with the other workspace's key.
    assert intruder.post("message/conversations/get", token=alice.token).error() == (401, 100)
