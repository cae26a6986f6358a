"""Seed 004: `/services/rest/user/allMessages` — the legacy polling API (SPEC §3.4)."""

import logging
import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from django.db import DatabaseError
from django.test import Client
from django.utils import timezone

from messaging.models import Conversation, Direction, Message, Status
from tests import factories

URL = "/services/rest/user/allMessages"
SINCE = 1364545939
PASSWORD = "secret-pw"


# --- data builders: rows shaped exactly as the 003 dialect stores them -------------------------


def at(seconds: int, microsecond: int = 0) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC).replace(microsecond=microsecond)


def userid(username: str) -> dict:
    return {"identifierKey": "userid", "identifierValue": username}


def phone(number: str) -> dict:
    return {"identifierKey": "phonenumber", "identifierValue": number}


def inbox(owner, peer=None) -> Conversation:
    """A conversation of `owner` (each belongs to exactly one app user, as in services/app_messages)."""
    conversation = Conversation.objects.create(workspace=owner.workspace)
    conversation.app_users.add(owner)
    if peer is not None:
        conversation.participants.add(peer)
    return conversation


def row(owner, conversation, direction, text, when: datetime, peer: dict, **kwargs) -> Message:
    """One row of the owner's inbox: incoming from `peer`, or outgoing to `peer`."""
    me = userid(owner.username)
    sender, receiver = (
        (peer, {"contacts": [me]}) if direction == Direction.INCOMING else (me, {"contacts": [peer]})
    )
    return Message(
        workspace=owner.workspace,
        direction=direction,
        sender=sender,
        receiver=receiver,
        body={"type": "text", "text": {"text": text}},
        conversation=conversation,
        status=Status.DELIVERED,
        created_at=when,
        updated_at=when,
        last_status_at=when,
        **kwargs,
    )


def incoming(owner, conversation, text, when, peer, **kwargs) -> Message:
    message = row(owner, conversation, Direction.INCOMING, text, when, peer, **kwargs)
    message.save()
    return message


def outgoing(owner, conversation, text, when, peer, **kwargs) -> Message:
    message = row(owner, conversation, Direction.OUTGOING, text, when, peer, **kwargs)
    message.save()
    return message


@pytest.fixture
def client() -> Client:
    # CSRF checks on: a legacy client's form POST carries no token and must still work.
    return Client(enforce_csrf_checks=True)


@pytest.fixture
def user(workspace):
    return factories.create_app_user(workspace, "1234321@reseller", PASSWORD, msisdn="+61500079987")


def poll(client: Client, method: str = "get", **params) -> dict:
    data = {"username": "1234321@reseller", "password": PASSWORD, "since": str(SINCE), **params}
    data = {k: v for k, v in data.items() if v is not None}
    response = getattr(client, method)(URL, data)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    return response.json()


# --- the seed's example ----------------------------------------------------------------------


@pytest.fixture
def seed_data(workspace, user):
    """The seed's example: a reply to the user's message, the user's reply, a message to a phone."""
    friend = factories.create_app_user(workspace, "mommy", msisdn="+61555879987")
    friend_contact = factories.create_contact(workspace)
    thread = inbox(user, friend_contact)
    sms_thread = inbox(user, factories.create_contact(workspace, phone="+61255588885"))
    reply = outgoing(user, thread, "Reply> ggghhh", at(1366624766, 120000), userid(friend.username))
    answer = incoming(user, thread, " ggghhh", at(1366624769, 5), userid(friend.username), reply_to=reply)
    hello = outgoing(user, sms_thread, "Hello mommy", at(1366624802, 999999), phone("+61255588885"))
    return reply, answer, hello


def test_it_answers_exactly_the_seed_example(client, seed_data):
    reply, answer, hello = seed_data

    body = poll(client)

    assert body == {
        "newestMessageTimestamp": 1366624802,
        "hasMoreMessages": False,
        "incomingMessages": [
            {
                "documentId": str(answer.id),
                "text": " ggghhh",
                "timestamp": 1366624769,
                "from": "61555879987",
                "recipient": "61500079987",
                "originDocumentId": str(reply.id),
            }
        ],
        "outgoingMessages": [
            {
                "documentId": str(reply.id),
                "text": "Reply> ggghhh",
                "timestamp": 1366624766,
                "recipient": "61555879987",
            },
            {
                "documentId": str(hello.id),
                "text": "Hello mommy",
                "timestamp": 1366624802,
                "recipient": "61255588885",
            },
        ],
        "status": 0,
    }
    assert list(body) == [
        "newestMessageTimestamp",
        "hasMoreMessages",
        "incomingMessages",
        "outgoingMessages",
        "status",
    ]
    assert [type(body["newestMessageTimestamp"]), type(body["hasMoreMessages"])] == [int, bool]
    for item in body["incomingMessages"] + body["outgoingMessages"]:
        assert isinstance(item["documentId"], str) and isinstance(item["timestamp"], int)


def test_it_answers_a_form_post_like_a_get(client, seed_data):
    via_get = poll(client)
    via_post = poll(client, "post")

    assert via_post == via_get
    assert via_post["status"] == 0 and len(via_post["outgoingMessages"]) == 2


def test_it_reads_post_form_fields_over_the_query_string(client, seed_data):
    response = client.post(
        f"{URL}?password=wrong", {"username": "1234321@reseller", "password": PASSWORD, "since": str(SINCE)}
    )

    assert response.json()["status"] == 0


def test_it_gives_origin_document_id_only_to_replies(client, workspace, user):
    thread = inbox(user)
    first = incoming(user, thread, "hi", at(SINCE + 10), phone("+15550001111"))
    incoming(user, thread, "re", at(SINCE + 11), phone("+15550001111"), reply_to=first)

    items = poll(client)["incomingMessages"]

    assert "originDocumentId" not in items[0]
    assert items[1]["originDocumentId"] == str(first.id)


def test_since_is_exclusive_and_newest_timestamp_echoes_since_when_nothing_is_new(client, workspace, user):
    thread = inbox(user)
    incoming(user, thread, "at since", at(SINCE, 999999), phone("+15550001111"))
    later = incoming(user, thread, "after since", at(SINCE + 1), phone("+15550001111"))

    body = poll(client)
    assert [m["documentId"] for m in body["incomingMessages"]] == [str(later.id)]
    assert body["newestMessageTimestamp"] == SINCE + 1

    again = poll(client, since=str(SINCE + 1))
    assert again == {
        "newestMessageTimestamp": SINCE + 1,
        "hasMoreMessages": False,
        "incomingMessages": [],
        "outgoingMessages": [],
        "status": 0,
    }


def test_a_user_without_msisdn_is_named_by_username(client, workspace, user):
    plain = factories.create_app_user(workspace, "plain@reseller", "pw-plain")
    thread = inbox(plain)
    incoming(plain, thread, "from a user", at(SINCE + 1), userid(user.username))
    outgoing(plain, thread, "to a user without msisdn", at(SINCE + 2), userid("nomsisdn"))
    factories.create_app_user(workspace, "nomsisdn")

    body = poll(client, username="plain@reseller", password="pw-plain")

    assert body["incomingMessages"][0]["from"] == "61500079987"
    assert body["incomingMessages"][0]["recipient"] == "plain@reseller"
    assert body["outgoingMessages"][0]["recipient"] == "nomsisdn"


def test_a_row_naming_nobody_takes_the_peer_from_its_conversation(client, workspace, user):
    thread = inbox(user, factories.create_contact(workspace, phone="+15557654321"))
    message = incoming(user, thread, "bare", at(SINCE + 1), {})

    body = poll(client)

    assert body["incomingMessages"][0]["documentId"] == str(message.id)
    assert body["incomingMessages"][0]["from"] == "15557654321"


def test_deleted_messages_and_deleted_conversations_are_left_out(client, workspace, user):
    thread = inbox(user)
    kept = incoming(user, thread, "kept", at(SINCE + 1), phone("+15550001111"))
    incoming(user, thread, "deleted", at(SINCE + 2), phone("+15550001111"), deleted=True)
    gone = inbox(user)
    outgoing(user, gone, "in a deleted conversation", at(SINCE + 3), phone("+15550002222"))
    Conversation.objects.filter(pk=gone.pk).update(deleted=True)

    body = poll(client)

    assert [m["documentId"] for m in body["incomingMessages"]] == [str(kept.id)]
    assert body["outgoingMessages"] == []
    assert body["newestMessageTimestamp"] == SINCE + 1


def test_messages_of_the_current_seconds_wait_until_their_second_is_over(client, workspace, user, settings):
    thread = inbox(user)
    now = timezone.now()
    incoming(user, thread, "just now", now, phone("+15550001111"))

    body = poll(client, since=str(int(now.timestamp()) - 10))
    assert body["incomingMessages"] == [] and body["hasMoreMessages"] is False

    settings.ALL_MESSAGES_SETTLE_SECONDS = 0
    body = poll(client, since=str(int(now.timestamp()) - 10))
    assert [m["text"] for m in body["incomingMessages"]] == ["just now"]


# --- workspaces ------------------------------------------------------------------------------


def test_a_user_of_another_workspace_never_sees_these_messages(client, workspace, other_workspace, seed_data):
    stranger = factories.create_app_user(other_workspace, "stranger", "pw-stranger", msisdn="+61500079987")
    inbox(stranger)  # an empty conversation of their own

    body = poll(client, username="stranger", password="pw-stranger")

    assert body["status"] == 0
    assert body["incomingMessages"] == [] and body["outgoingMessages"] == []
    assert body["newestMessageTimestamp"] == SINCE


def test_a_username_in_several_workspaces_needs_the_api_key(client, workspace, other_workspace, seed_data):
    twin = factories.create_app_user(other_workspace, "1234321@reseller", "twin-pw")
    twin_message = incoming(twin, inbox(twin), "twin's", at(SINCE + 5), phone("+15550001111"))
    _, own_key = factories.create_service(workspace)
    _, twin_key = factories.create_service(other_workspace)

    ambiguous = poll(client)
    assert ambiguous["status"] == 2
    assert "apiKey" in ambiguous["message"] and "username" in ambiguous["message"]

    own = poll(client, apiKey=own_key)
    assert own["status"] == 0 and len(own["outgoingMessages"]) == 2
    assert str(twin_message.id) not in str(own)

    theirs = poll(client, "post", password="twin-pw", apiKey=twin_key)
    assert [m["documentId"] for m in theirs["incomingMessages"]] == [str(twin_message.id)]
    assert theirs["outgoingMessages"] == []

    # The key chooses the workspace: the other workspace's password does not open it.
    assert poll(client, password="twin-pw", apiKey=own_key)["status"] == 3


def test_an_unknown_or_inactive_api_key_fails_authentication(client, workspace, user):
    service, key = factories.create_service(workspace, active=False)

    assert poll(client, apiKey="sbs_not-a-key-at-all")["status"] == 3
    assert poll(client, apiKey=key)["status"] == 3


# --- statuses --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params, field",
    [
        ({"username": None}, "username"),
        ({"username": ""}, "username"),
        ({"username": "   "}, "username"),
        ({"password": None}, "password"),
        ({"password": ""}, "password"),
        ({"since": None}, "since"),
        ({"since": ""}, "since"),
    ],
)
def test_a_missing_parameter_is_status_1(client, user, params, field):
    for method in ("get", "post"):
        body = poll(client, method, **params)
        assert body == {"status": 1, "message": f"{field}: is required"}


@pytest.mark.parametrize(
    "params, field, problem",
    [
        ({"username": "1234321 @reseller"}, "username", "must not contain spaces"),
        ({"username": "1234321@reseller\t"}, "username", "must not contain spaces"),
        ({"since": "yesterday"}, "since", "must be an integer"),
        ({"since": "1364545939.5"}, "since", "must be an integer"),
        ({"since": "0x10"}, "since", "must be an integer"),
        ({"since": "-5"}, "since", "must not be negative"),
        ({"since": "99999999999999999999"}, "since", "must be at most"),
    ],
)
def test_an_invalid_value_is_status_2(client, user, params, field, problem):
    body = poll(client, **params)

    assert body["status"] == 2
    assert body["message"].startswith(f"{field}: {problem}")


def test_a_wrong_password_is_status_3(client, user, seed_data):
    body = poll(client, "post", password="not-the-password")

    assert body == {"status": 3, "message": "password: does not match the user's password"}


def test_a_blocked_account_is_status_4(client, user, seed_data):
    user.blocked = True
    user.save()

    assert poll(client)["status"] == 4
    # Without the password nobody learns the account state.
    assert poll(client, password="wrong")["status"] == 3


def test_wrong_passwords_block_the_account_for_the_rest_of_the_window(client, workspace, user, seed_data, settings):
    from datetime import timedelta

    from django.utils import timezone

    from messaging.models import RateCounter

    settings.APP_USER_PASSWORD_FAILURES = "3/hour"
    for _ in range(3):
        assert poll(client, password="guess")["status"] == 3
    # Refused unchecked, right password or not, saying for how long.
    for password in (PASSWORD, "guess"):
        body = poll(client, password=password)
        assert body["status"] == 4
        assert body["message"].startswith("too many wrong passwords for '1234321@reseller' (limit 3/hour); try again in")
    factories.create_app_user(workspace, "other@reseller", PASSWORD)
    assert poll(client, username="other@reseller")["status"] == 0  # nobody else is held back
    RateCounter.objects.filter(key__startswith="password:").update(window_start=timezone.now() - timedelta(hours=2))
    assert poll(client)["status"] == 0  # the next window


def test_an_unknown_user_is_status_200(client, user):
    body = poll(client, username="nobody@reseller")

    assert body["status"] == 200
    assert body["message"] == "username: user 'nobody@reseller' does not exist"


def test_an_account_not_activated_is_status_220(client, user, seed_data):
    user.active = False
    user.save()

    body = poll(client)

    assert body["status"] == 220
    assert "not activated" in body["message"]
    assert "incomingMessages" not in body


@pytest.mark.parametrize("error", [RuntimeError("boom"), DatabaseError("connection lost")])
def test_an_internal_error_is_status_9999_logged_never_a_500(client, user, caplog, error):
    caplog.set_level(logging.ERROR, logger="messaging.dialects.all_messages.errors")
    with mock.patch("messaging.services.all_messages.messages_page", side_effect=error):
        response = Client().get(URL, {"username": user.username, "password": PASSWORD, "since": str(SINCE)})

    assert response.status_code == 200
    assert response.json() == {"status": 9999, "message": "internal error; nothing was changed, please retry"}
    assert "allMessages: internal error" in caplog.text and str(error) in caplog.text


def test_other_methods_are_refused(client, user):
    assert client.put(URL).status_code == 405


# --- paging ----------------------------------------------------------------------------------


def _seconds_plan(total: int, rng: random.Random) -> list[int]:
    """How many messages each second holds: mostly groups of 1-5, one second of 150."""
    counts: list[int] = []
    while sum(counts) < total - 150:
        counts.append(rng.choice([1, 1, 2, 3, 4, 5]))
    counts.insert(len(counts) // 2, 150)
    counts[-1] -= sum(counts) - total
    return [c for c in counts if c > 0]


def test_a_client_loop_receives_each_of_2500_messages_exactly_once(client, workspace, other_workspace, user):
    rng = random.Random(4004)
    peers = [factories.create_app_user(workspace, f"peer{i}", msisdn=f"+6155500000{i}") for i in range(3)]
    threads = [inbox(user) for _ in peers]
    stranger = factories.create_app_user(other_workspace, "stranger")
    foreign = inbox(stranger)
    rows, foreign_rows = [], []
    second = SINCE + 1000
    for count in _seconds_plan(2500, rng):
        for i in range(count):
            # Some rows of one second share the very same instant: ties fall back to the id.
            when = at(second, (i * 7919) % 1_000_000 if i % 4 else 0)
            k = rng.randrange(len(peers))
            direction = rng.choice([Direction.INCOMING, Direction.OUTGOING])
            rows.append(row(user, threads[k], direction, f"m{len(rows)}", when, userid(peers[k].username)))
            if rng.random() < 0.05:
                foreign_rows.append(row(stranger, foreign, direction, "foreign", when, phone("+15550001111")))
        second += rng.choice([1, 1, 1, 2, 60])
    rows.append(
        row(user, threads[0], Direction.INCOMING, "deleted", at(second), userid("peer0"), deleted=True)
    )
    Message.objects.bulk_create(rows + foreign_rows)
    expected = {str(m.id): m for m in rows if not m.deleted}
    assert len(expected) == 2500

    seen: list[str] = []
    page_sizes = []
    since = SINCE
    for _ in range(100):
        body = poll(client, since=str(since))
        assert body["status"] == 0
        page = body["incomingMessages"] + body["outgoingMessages"]
        stamps = [m["timestamp"] for m in page]
        if page:
            assert min(stamps) > since and body["newestMessageTimestamp"] == max(stamps)
        else:
            assert body["newestMessageTimestamp"] == since
        seen += [m["documentId"] for m in page]
        page_sizes.append(len(page))
        # A page exceeds 100 only with messages of its last second.
        assert len([t for t in stamps if t < max(stamps, default=0)]) <= 100
        since = body["newestMessageTimestamp"]
        if not body["hasMoreMessages"]:
            break
    else:
        pytest.fail("the client loop never ended")

    assert Counter(seen).most_common(1)[0][1] == 1, "a message came twice"
    assert set(seen) == set(expected), "a message was missed (or a foreign/deleted one shown)"
    assert max(page_sizes) >= 150  # the busy second came whole in one page
    assert any(100 < size < 150 for size in page_sizes), "no page was extended to finish its last second"
    assert page_sizes.count(0) == 0
    # Each message once, with its own direction and peer.
    by_id = {m["documentId"]: m for m in seen_items(client, SINCE)}
    sample = rng.sample(sorted(expected), 50)
    for document_id in sample:
        message = expected[document_id]
        item = by_id[document_id]
        peer = "6155500000" + message.receiver["contacts"][0]["identifierValue"][-1]
        if message.direction == Direction.INCOMING:
            peer = "6155500000" + message.sender["identifierValue"][-1]
            assert item["from"] == peer and item["recipient"] == "61500079987"
        else:
            assert item["recipient"] == peer and "from" not in item
        assert item["text"] == message.text
        assert item["timestamp"] == int(message.created_at.timestamp())


def seen_items(client: Client, since: int) -> list[dict]:
    items: list[dict] = []
    while True:
        body = poll(client, since=str(since))
        items += body["incomingMessages"] + body["outgoingMessages"]
        since = body["newestMessageTimestamp"]
        if not body["hasMoreMessages"]:
            return items


def test_a_page_is_oldest_first_and_stops_at_the_page_size(client, workspace, user, settings):
    settings.ALL_MESSAGES_PAGE_SIZE = 3
    thread = inbox(user)
    stamps = [SINCE + 1, SINCE + 2, SINCE + 3, SINCE + 4, SINCE + 5]
    made = [incoming(user, thread, f"m{i}", at(s), phone("+15550001111")) for i, s in enumerate(stamps)]

    first = poll(client)
    assert [m["documentId"] for m in first["incomingMessages"]] == [str(m.id) for m in made[:3]]
    assert first["hasMoreMessages"] is True and first["newestMessageTimestamp"] == SINCE + 3

    second = poll(client, since=str(SINCE + 3))
    assert [m["documentId"] for m in second["incomingMessages"]] == [str(m.id) for m in made[3:]]
    assert second["hasMoreMessages"] is False


def test_a_page_ending_inside_a_second_takes_the_whole_second(client, workspace, user, settings):
    settings.ALL_MESSAGES_PAGE_SIZE = 3
    thread = inbox(user)
    early = incoming(user, thread, "early", at(SINCE + 1), phone("+15550001111"))
    busy = [outgoing(user, thread, f"busy{i}", at(SINCE + 2, i), phone("+15550001111")) for i in range(4)]
    late = incoming(user, thread, "late", at(SINCE + 3), phone("+15550001111"))

    first = poll(client)
    assert [m["documentId"] for m in first["incomingMessages"]] == [str(early.id)]
    assert [m["documentId"] for m in first["outgoingMessages"]] == [str(m.id) for m in busy]
    assert first["newestMessageTimestamp"] == SINCE + 2 and first["hasMoreMessages"] is True

    second = poll(client, since=str(SINCE + 2))
    assert [m["documentId"] for m in second["incomingMessages"]] == [str(late.id)]
    assert second["outgoingMessages"] == [] and second["hasMoreMessages"] is False


def test_a_page_costs_constant_queries(client, workspace, user, django_assert_num_queries):
    peers = [factories.create_app_user(workspace, f"peer{i}", msisdn=f"+6155500000{i}") for i in range(5)]
    threads = [inbox(user) for _ in peers]
    Message.objects.bulk_create(
        row(user, threads[i % 5], Direction.INCOMING, f"m{i}", at(SINCE + i), userid(peers[i % 5].username))
        for i in range(300)
    )

    poll(client)  # the first attempt of the window creates the password counter's row
    # user; password attempt counted, read back and given back; page of messages; the
    # peers' msisdns — the same for 100 rows as for 10.
    with django_assert_num_queries(6):
        body = poll(client)
    assert len(body["incomingMessages"]) == 100 and body["hasMoreMessages"] is True
    with django_assert_num_queries(6):
        body = poll(client, since=str(SINCE + 289))
    assert len(body["incomingMessages"]) == 10 and body["hasMoreMessages"] is False


def test_timestamps_are_whole_epoch_seconds_floored(client, workspace, user):
    thread = inbox(user)
    incoming(
        user, thread, "late in its second", at(SINCE + 7) + timedelta(microseconds=999_999), phone("+1555")
    )

    body = poll(client)

    assert body["incomingMessages"][0]["timestamp"] == SINCE + 7


def test_it_reads_what_the_003_services_write(client, workspace, user, settings):
    """Rows written by services/app_messages (user to user, and an insert from a phone)."""
    from messaging.services import app_messages

    settings.ALL_MESSAGES_SETTLE_SECONDS = 0  # these rows are stamped "now"
    service, _ = factories.create_service(workspace)
    factories.create_app_user(workspace, "friend", "friend-pw", msisdn="+61555879987")
    before = str(int(timezone.now().timestamp()) - 1)
    sent = app_messages.send(user, service, "friend", "hello friend")
    inserted = app_messages.insert(user, "+61255588885", "from a phone")

    mine = poll(client, since=before)
    assert [(m["documentId"], m["recipient"]) for m in mine["outgoingMessages"]] == [
        (str(sent.id), "61555879987")
    ]
    assert [(m["documentId"], m["from"], m["recipient"]) for m in mine["incomingMessages"]] == [
        (str(inserted.id), "61255588885", "61500079987")
    ]

    theirs = poll(client, username="friend", password="friend-pw", since=before)
    assert theirs["outgoingMessages"] == []
    [copy] = theirs["incomingMessages"]
    assert (copy["from"], copy["recipient"], copy["text"]) == ("61500079987", "61555879987", "hello friend")
    assert copy["documentId"] != str(sent.id)  # the friend's own inbox copy


def test_a_reply_written_by_the_003_services_names_its_origin(client, workspace, user, settings):
    """The friend answers the user's message: the user's copy carries originDocumentId."""
    from messaging.models import AppUser
    from messaging.services import app_messages

    settings.ALL_MESSAGES_SETTLE_SECONDS = 0
    service, _ = factories.create_service(workspace)
    factories.create_app_user(workspace, "friend", "friend-pw", msisdn="+61555879987")
    friend = AppUser.objects.get(username="friend")
    before = str(int(timezone.now().timestamp()) - 1)
    question = app_messages.send(user, service, "friend", "lunch?")
    app_messages.send(friend, service, user.username, "Reply> yes")

    mine = poll(client, since=before)
    [answer] = mine["incomingMessages"]
    assert answer["text"] == "Reply> yes"
    assert answer["originDocumentId"] == str(question.id)
    assert "originDocumentId" not in mine["outgoingMessages"][0]


def test_an_sms_reply_names_the_message_it_answers(workspace, sms_channel):
    """Incoming SMS (receive_message) points at the last message sent to that contact."""
    from messaging.services import send
    from messaging.services.receive import receive_message

    first = send.send_text(sms_channel, "phonenumber", "+61555879987", "Your table is ready")
    answer = receive_message(sms_channel, "phonenumber", "+61555879987", {"type": "text", "text": {"text": "thanks"}})
    assert answer.reply_to_id == first.id
    unrelated = receive_message(sms_channel, "phonenumber", "+61555000111", {"type": "text", "text": {"text": "hi"}})
    assert unrelated.reply_to_id is None
