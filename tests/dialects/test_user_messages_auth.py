"""Seed 003 edge: login, apiKey (600), authToken (100), denied accounts (97), missing
parameters (2), rate limits (98), database outages (99), formats and envelopes."""

import json
from datetime import timedelta
from unittest import mock

import pytest
from django.db import OperationalError
from django.utils import timezone

from messaging.models import AppAuthToken, AppDevice
from messaging.services import app_messages
from tests import factories
from tests.dialects.user_api import Setup, UserApi

FORMATS = ["json", "xml"]


@pytest.fixture
def s(workspace):
    return Setup(workspace)


@pytest.mark.parametrize("fmt", FORMATS)
def test_login_answers_an_auth_token_and_the_user_id(s, fmt):
    api = UserApi(s.key, fmt)
    response = api.post("login", {"username": "alice", "password": "secret-pw", "deviceId": "phone-1"})
    assert response.status_code == 200
    assert response["status"] == "OK"
    assert response["userId"] == s.alice.id
    token = response["authToken"]
    stored = AppAuthToken.objects.get(app_user=s.alice)
    assert stored.check_token(token) and stored.device.device_id == "phone-1"
    assert stored.expires_at > timezone.now() + timedelta(days=29)
    assert AppDevice.objects.filter(app_user=s.alice, device_id="phone-1").count() == 1
    assert token not in (stored.token_hash, stored.token_prefix)  # only a hash is kept


@pytest.mark.parametrize("fmt", FORMATS)
def test_login_with_a_wrong_password_or_username_is_97(s, fmt):
    api = UserApi(s.key, fmt)
    for username, password in (("alice", "nope"), ("nobody", "secret-pw")):
        response = api.post("login", {"username": username, "password": password})
        assert response.error() == (403, 97)
        assert response["errorMessage"] == "Wrong username or password."
    assert not AppAuthToken.objects.exists()


@pytest.mark.parametrize(
    ("fields", "message"),
    [({"blocked": True}, "The account is blocked."), ({"active": False}, "The account is not activated.")],
)
def test_login_of_a_blocked_or_not_activated_account_is_97_with_the_reason(workspace, fields, message):
    s = Setup(workspace)
    factories.create_app_user(workspace, "dora", **fields)
    response = UserApi(s.key).post("login", {"username": "dora", "password": "secret-pw"})
    assert response.error() == (403, 97)
    assert response["errorMessage"] == message
    # A wrong password does not reveal the account's state.
    response = UserApi(s.key).post("login", {"username": "dora", "password": "wrong"})
    assert response["errorMessage"] == "Wrong username or password."


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("api_key", [None, "sbs_not-a-real-key-at-all-000000", "x"])
def test_a_missing_or_wrong_api_key_is_600(s, fmt, api_key):
    api = UserApi(s.key, fmt)
    response = api.post("login", {"username": "alice", "password": "secret-pw"}, api_key=api_key)
    assert response.error() == (401, 600)
    response = api.post("message/conversations/get", {}, api_key=api_key, token="whatever")
    assert response.error() == (401, 600)


def test_the_api_key_of_an_inactive_service_is_denied(workspace):
    s = Setup(workspace)
    s.service.active = False
    s.service.save()
    response = UserApi(s.key).post("login", {"username": "alice", "password": "secret-pw"})
    assert response.error() == (403, 97)
    assert "inactive" in response["errorMessage"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_missing_wrong_or_expired_auth_token_is_100(s, fmt):
    api = s.api("alice", fmt=fmt)
    assert api.post("message/conversations/get").ok
    for token in (None, "sbu_wrong-token-wrong-token-wrong"):
        assert api.post("message/conversations/get", token=token).error() == (401, 100)
    AppAuthToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = api.post("message/conversations/get")
    assert response.error() == (401, 100)
    assert "expired" in response["errorMessage"]


def test_a_user_blocked_after_login_is_denied_with_the_token_they_hold(s):
    api = s.api("alice")
    s.alice.blocked = True
    s.alice.save()
    response = api.post("message/conversations/get")
    assert response.error() == (403, 97)
    assert response["errorMessage"] == "The account is blocked."


def test_an_auth_token_is_only_good_with_an_api_key_of_its_workspace(s, other_workspace):
    token = s.api("alice").token
    _, foreign_key = factories.create_service(other_workspace)
    response = UserApi(foreign_key).post("message/conversations/get", token=token)
    assert response.error() == (401, 100)


def test_api_key_and_auth_token_may_come_as_headers(s):
    token = s.api("alice").token
    api = UserApi(s.key)
    response = api.post(
        "message/conversations/get", {}, api_key=None, token=None,
        headers={"X-Api-Key": s.key, "X-Auth-Token": token},
    )
    assert response.ok, response.data
    assert response["conversations"] == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_missing_parameter_is_2_naming_it(s, fmt):
    api = s.api("alice", fmt=fmt)
    response = api.post("message/send", {"text": "hi"})
    assert response.error() == (400, 2)
    assert "'recipient'" in response["errorMessage"]
    response = UserApi(s.key, fmt).post("login", {"username": "alice"})
    assert response.error() == (400, 2)
    assert "'password'" in response["errorMessage"]


def test_a_json_body_wrapped_in_its_root_element_is_accepted(s):
    api = s.api("alice")
    body = {"userMessageSendRequest": {"apiKey": s.key, "authToken": api.token, "recipient": "carol", "text": "hi"}}
    response = api.raw("message/send", json.dumps(body).encode(), "application/json")
    assert response.ok, response.data
    assert response["message"]["recipient"] == "carol"


def test_the_accept_header_chooses_the_answer_format(s):
    api = s.api("alice", fmt="json")
    response = api.post("message/conversations/get", headers={"Accept": "application/xml"})
    assert response.http["Content-Type"].startswith("application/xml")
    assert response.http.content.startswith(b"<?xml")
    assert b"<userMessageGetConversationsResponse>" in response.http.content
    response = api.post("message/conversations/get", fmt="xml", headers={"Accept": "application/json"})
    assert response.http["Content-Type"] == "application/json"
    assert response["status"] == "OK"


def test_only_post_is_answered(s):
    http = UserApi(s.key).client.get("/rest/user/message/conversations/get")
    assert http.status_code == 405
    assert json.loads(http.content)["errorCode"] == 2


def test_a_database_outage_is_99_not_a_500(s):
    api = s.api("alice")
    with mock.patch.object(app_messages, "list_conversations", side_effect=OperationalError("database is down")):
        response = api.post("message/conversations/get")
    assert response.error() == (503, 99)
    assert "not available" in response["errorMessage"]
    with mock.patch.object(app_messages, "service_for_key", side_effect=OperationalError("connection refused")):
        assert api.post("login", {"username": "alice", "password": "secret-pw"}).error() == (503, 99)
    assert api.post("message/conversations/get").ok  # and it answers again when the database is back


def test_the_user_rate_limit_answers_98(s, settings):
    settings.USER_API_RATE = "3/min"
    api = s.api("alice")  # the login counts for "alice" too, under the login key
    for _ in range(3):
        assert api.post("message/conversations/get").ok
    response = api.post("message/conversations/get")
    assert response.error() == (429, 98)
    assert int(response.http["Retry-After"]) >= 1
    # Another user of the same key is not held back by alice's requests.
    assert s.api("carol").post("message/conversations/get").ok


def test_the_api_key_rate_limit_answers_98(s, settings, other_workspace):
    settings.USER_API_KEY_RATE = "4/hour"
    alice, carol = s.api("alice"), s.api("carol")  # two requests
    assert alice.post("message/conversations/get").ok
    assert carol.post("message/conversations/get").ok
    assert alice.post("message/conversations/get").error() == (429, 98)
    assert carol.post("login", {"username": "carol", "password": "secret-pw"}).error() == (429, 98)
    # Another service's key has its own budget.
    _, other_key = factories.create_service(other_workspace)
    factories.create_app_user(other_workspace, "zed")
    assert UserApi(other_key).post("login", {"username": "zed", "password": "secret-pw"}).ok


def test_login_attempts_per_username_are_limited(s, settings):
    settings.USER_API_RATE = "2/min"
    api = UserApi(s.key)
    for _ in range(2):
        assert api.post("login", {"username": "alice", "password": "guess"}).error() == (403, 97)
    assert api.post("login", {"username": "alice", "password": "secret-pw"}).error() == (429, 98)
    assert api.post("login", {"username": "carol", "password": "secret-pw"}).ok


def test_wrong_passwords_lock_the_login_for_the_rest_of_the_window(s, settings):
    from messaging.models import RateCounter

    settings.APP_USER_PASSWORD_FAILURES = "3/hour"
    api = UserApi(s.key)
    for _ in range(3):
        assert api.post("login", {"username": "alice", "password": "guess"}).error() == (403, 97)
    # The fourth try is refused unchecked, even with the right password, and says for how long.
    locked = api.post("login", {"username": "alice", "password": "secret-pw"})
    assert locked.error() == (429, 98)
    assert "too many wrong passwords for 'alice' (limit 3/hour)" in locked["errorMessage"]
    assert 1 <= int(locked.http["Retry-After"]) <= 3600
    assert not AppAuthToken.objects.filter(app_user=s.alice).exists()
    assert api.post("login", {"username": "carol", "password": "secret-pw"}).ok  # others are not held back
    RateCounter.objects.filter(key__startswith="password:").update(window_start=timezone.now() - timedelta(hours=2))
    assert api.post("login", {"username": "alice", "password": "secret-pw"}).ok  # the next window


def test_right_passwords_do_not_use_up_the_limit_and_unknown_names_are_locked_alike(s, settings):
    settings.APP_USER_PASSWORD_FAILURES = "2/hour"
    settings.USER_API_RATE = "100/min"
    api = UserApi(s.key)
    for _ in range(4):  # each attempt is counted first, and a right password gives it back
        assert api.post("login", {"username": "alice", "password": "secret-pw"}).ok
    # A name that does not exist answers exactly as a known one: 97, then 98 naming it.
    for username in ("alice", "nobody"):
        for _ in range(2):
            assert api.post("login", {"username": username, "password": "guess"}).error() == (403, 97)
        locked = api.post("login", {"username": username, "password": "guess"})
        assert locked.error() == (429, 98)
        assert locked["errorMessage"].startswith(f"too many wrong passwords for '{username}' (limit 2/hour)")
