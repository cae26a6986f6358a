"""Hostile and broken bodies: refused with code 2 before anything is expanded or stored,
and the server answers the next request as usual."""

import pytest

from messaging.models import AppAuthToken, Message
from tests.dialects.user_api import Setup

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<userMessageSendRequest><apiKey>%(key)s</apiKey><authToken>%(token)s</authToken>
<recipient>carol</recipient><text>&lol9;</text></userMessageSendRequest>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<userMessageSendRequest><apiKey>%(key)s</apiKey><authToken>%(token)s</authToken>
<recipient>carol</recipient><text>&xxe;</text></userMessageSendRequest>"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE userMessageSendRequest SYSTEM "http://127.0.0.1:9/evil.dtd">
<userMessageSendRequest><apiKey>%(key)s</apiKey><authToken>%(token)s</authToken>
<recipient>carol</recipient><text>hi</text></userMessageSendRequest>"""


@pytest.fixture
def s(workspace):
    return Setup(workspace)


def _fill(template: bytes, s: Setup, token: str) -> bytes:
    return template % {b"key": s.key.encode(), b"token": token.encode()}


def _assert_refused_then_alive(api, response) -> None:
    assert response.error() == (400, 2)
    assert response.http["Content-Type"].startswith("application/xml")
    assert not Message.objects.exists()
    after = api.post("message/send", {"recipient": "carol", "text": "still here"}, fmt="xml")
    assert after.ok, after.data
    assert Message.objects.filter(body__text__text="still here").count() == 2  # alice's and carol's copy


@pytest.mark.parametrize("template", [BILLION_LAUGHS, EXTERNAL_ENTITY, EXTERNAL_DTD], ids=["laughs", "xxe", "dtd"])
def test_dtds_and_entities_are_refused_with_code_2(s, template):
    api = s.api("alice")
    response = api.raw("message/send", _fill(template, s, api.token), "application/xml")
    assert "not allowed" in response["errorMessage"]
    _assert_refused_then_alive(api, response)


def test_an_oversized_body_is_refused_unread(s, settings):
    settings.USER_API_MAX_BODY_BYTES = 4096
    api = s.api("alice")
    body = (
        f"<userMessageSendRequest><apiKey>{s.key}</apiKey><authToken>{api.token}</authToken>"
        f"<recipient>carol</recipient><text>{'x' * 5000}</text></userMessageSendRequest>"
    ).encode()
    response = api.raw("message/send", body, "application/xml")
    assert "larger than 4096 bytes" in response["errorMessage"]
    _assert_refused_then_alive(api, response)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"<userMessageSendRequest><recipient>carol</recipient>", "not well-formed"),
        (b"<somethingElse><recipient>carol</recipient></somethingElse>", "root element must be <userMessageSendRequest>"),
    ],
)
def test_broken_or_misnamed_xml_is_2(s, body, problem):
    api = s.api("alice")
    response = api.raw("message/send", body, "application/xml")
    assert problem in response["errorMessage"]
    _assert_refused_then_alive(api, response)


def test_broken_json_is_2_in_json(s):
    api = s.api("alice")
    response = api.raw("message/send", b'{"recipient": "carol", ', "application/json")
    assert response.error() == (400, 2)
    assert response.http["Content-Type"] == "application/json"
    assert "not valid JSON" in response["errorMessage"]
    assert api.raw("message/send", b"[1, 2]", "application/json").error() == (400, 2)


def test_login_works_in_xml_with_a_namespaced_root(s):
    body = (
        b'<userLoginRequest xmlns="urn:example:user"><apiKey>' + s.key.encode()
        + b"</apiKey><username>alice</username><password>secret-pw</password></userLoginRequest>"
    )
    response = s.api(None).raw("login", body, "application/xml")
    assert response.ok, response.data
    assert AppAuthToken.objects.get().check_token(response["authToken"])
