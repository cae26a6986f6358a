"""A client for the seed-003 user message API in tests: builds JSON or XML bodies and
reads either answer back into one dict shape, so one assertion covers both formats."""

import json
import re
import xml.etree.ElementTree as ET

from django.test import Client

ROOTS = {
    "login": "userLoginRequest",
    "message/conversations/get": "userMessageGetConversationsRequest",
    "message/conversations/read": "userMessageReadConversationRequest",
    "message/conversations/delete": "userMessageDeleteConversationRequest",
    "message/conversations/delete/list": "userMessageDeleteConversationListRequest",
    "message/get/by/conversation": "userMessageGetMessagesRequest",
    "message/insert": "userMessageInsertRequest",
    "message/send": "userMessageSendRequest",
    "message/update": "userMessageUpdateRequest",
    "message/delete": "userMessageDeleteRequest",
    "message/delete/list": "userMessageDeleteListRequest",
    "message/lock/list": "userMessageLockListRequest",
    "message/unlock/list": "userMessageUnlockListRequest",
    "message/search": "userMessageSearchRequest",
    "message/sync": "userMessageSyncRequest",
}
ITEMS = {"messageIds": "messageId", "conversationIds": "conversationId"}
RESPONSE_LISTS = {"messages", "conversations", "participants", "deletedMessageIds", "messageIds", "conversationIds"}


def xml_body(root: str, fields: dict) -> bytes:
    element = ET.Element(root)
    for key, value in fields.items():
        child = ET.SubElement(element, key)
        if isinstance(value, list):
            for item in value:
                ET.SubElement(child, ITEMS.get(key, "item")).text = str(item)
        elif isinstance(value, bool):
            child.text = "true" if value else "false"
        else:
            child.text = str(value)
    return ET.tostring(element, encoding="utf-8", xml_declaration=True)


def _typed(text: str | None):
    text = text or ""
    if text in ("true", "false"):
        return text == "true"
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    return text


def read_xml(element: ET.Element, list_field: bool = False):
    if list_field:
        return [read_xml(child) for child in element]
    if len(element) == 0:
        return _typed(element.text)
    return {child.tag: read_xml(child, child.tag in RESPONSE_LISTS) for child in element}


class Response:
    def __init__(self, http, fmt: str):
        self.http = http
        self.status_code = http.status_code
        self.content_type = http["Content-Type"]
        if fmt == "xml":
            root = ET.fromstring(http.content)
            self.root = root.tag
            self.data = read_xml(root)
        else:
            self.root = None
            self.data = json.loads(http.content)

    def __getitem__(self, key):
        return self.data[key]

    def get(self, key, default=None):
        return self.data.get(key, default)

    @property
    def ok(self) -> bool:
        return self.status_code == 200 and self.data.get("status") == "OK"

    def error(self) -> tuple[int, int]:
        """(HTTP status, errorCode), asserting the envelope says ERROR."""
        assert self.data["status"] == "ERROR", self.data
        assert isinstance(self.data["errorMessage"], str) and self.data["errorMessage"]
        return self.status_code, self.data["errorCode"]


class UserApi:
    def __init__(self, api_key: str, fmt: str = "json"):
        self.client = Client()
        self.api_key = api_key
        self.fmt = fmt
        self.token: str | None = None

    def post(self, resource: str, fields: dict | None = None, *, fmt: str | None = None, api_key: str | None = "",
             token: str | None = "", headers: dict | None = None) -> Response:
        """POST with apiKey/authToken as body fields (None leaves one out, "" uses the default)."""
        fmt = fmt or self.fmt
        body = dict(fields or {})
        api_key = self.api_key if api_key == "" else api_key
        token = self.token if token == "" else token
        if api_key is not None:
            body["apiKey"] = api_key
        if token is not None and resource != "login":
            body["authToken"] = token
        root = ROOTS[resource]
        if fmt == "xml":
            content, content_type = xml_body(root, body), "application/xml"
        else:
            content, content_type = json.dumps(body), "application/json"
        http = self.client.post(f"/rest/user/{resource}", content, content_type=content_type, headers=headers or {})
        response = Response(http, fmt if "Accept" not in (headers or {}) else _fmt_of(http))
        if fmt == "xml" and response.root is not None:
            assert response.root == root.removesuffix("Request") + "Response"
        return response

    def raw(self, resource: str, content: bytes, content_type: str, headers: dict | None = None) -> Response:
        http = self.client.post(f"/rest/user/{resource}", content, content_type=content_type, headers=headers or {})
        return Response(http, _fmt_of(http))

    def login(self, username: str, password: str = "secret-pw", device_id: str | None = None) -> str:
        fields = {"username": username, "password": password}
        if device_id:
            fields["deviceId"] = device_id
        response = self.post("login", fields)
        assert response.ok, response.data
        self.token = response["authToken"]
        return self.token


def _fmt_of(http) -> str:
    return "xml" if "xml" in http["Content-Type"] else "json"


class Setup:
    """A workspace's service (API key) and app users alice, bob (with msisdns) and carol."""

    def __init__(self, workspace, fmt: str = "json"):
        from tests import factories

        self.workspace = workspace
        self.service, self.key = factories.create_service(workspace, name="Inbox app")
        self.alice = factories.create_app_user(workspace, "alice", msisdn="+4915112345678")
        self.bob = factories.create_app_user(workspace, "bob@example.com", msisdn="+4915187654321")
        self.carol = factories.create_app_user(workspace, "carol")
        self.fmt = fmt

    def api(self, username: str | None = "alice", fmt: str | None = None, device_id: str | None = None) -> UserApi:
        api = UserApi(self.key, fmt or self.fmt)
        if username:
            api.login(username, device_id=device_id)
        return api
