"""Permission matrix of the canonical API (SPEC §3.1): every endpoint, tried

- without a key (401),
- as each role of its own workspace (allowed, or 403 when the role is too low),
- with another workspace's admin key on this workspace's URLs (404, nothing changed),
- with another workspace's admin key on ITS OWN workspace's URL but an object id from
  this workspace (404, nothing changed).

Reads need viewer; sends, cancels, read actions and presigned uploads need sender; management writes
need admin. "Nothing changed" compares every row of the tables an endpoint can touch.
"""

from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.utils import timezone

from messaging.models import (
    Channel,
    Contact,
    ContactIdentifier,
    Conversation,
    EngineRequest,
    Media,
    Message,
    MessageEvent,
    MessagingEndpoint,
    SmartLink,
    Tag,
    Template,
    TemplateVersion,
    WebhookSubscription,
)
from tests import factories

pytestmark = pytest.mark.django_db

PUBLIC_HOOK = "http://93.184.216.34/hook"  # a global address literal: no DNS in tests
PHONE = "+12015550123"
SMS_SEND = {
    "receiver": {"contacts": [{"identifierKey": "phonenumber", "identifierValue": PHONE}]},
    "body": {"type": "text", "text": {"text": "hello"}},
}
RANK = {"viewer": 0, "sender": 1, "admin": 2}


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    path: str  # placeholders: {ws} and object names of World.ids
    role: str  # the lowest role allowed
    ok: int  # the status an allowed caller gets
    body: dict | None = None
    objects: tuple[str, ...] = field(default=())  # object placeholders in the path

    def url(self, ws, ids: dict) -> str:
        return self.path.format(ws=ws, **ids)


def ep(name, method, path, role, ok, body=None) -> Endpoint:
    objects = tuple(part[1:-1] for part in path.split("/") if part.startswith("{") and part != "{ws}")
    return Endpoint(name, method, path, role, ok, body, objects)


W = "/workspaces/{ws}"
CH = W + "/channels/{channel}"
ENDPOINTS = [
    # messages and uploads (helper A's endpoints)
    ep("send", "post", CH + "/messages", "sender", 202, SMS_SEND),
    ep("batch send", "post", CH + "/batch/messages", "sender", 202, {"messageRequests": [SMS_SEND]}),
    ep("channel messages", "get", CH + "/messages", "viewer", 200),
    ep("workspace messages", "get", W + "/messages", "viewer", 200),
    ep("get message", "get", CH + "/messages/{message}", "viewer", 200),
    ep("cancel message", "post", CH + "/messages/{message}/cancel", "sender", 200),
    ep("presign", "post", W + "/presigned-upload", "sender", 200, {"contentType": "image/png"}),
    ep("channel presign", "post", CH + "/presigned-upload", "sender", 200, {"contentType": "image/png"}),
    # conversations and read actions
    ep("list conversations", "get", W + "/conversations", "viewer", 200),
    ep("get conversation", "get", W + "/conversations/{conversation}", "viewer", 200),
    ep("conversation messages", "get", W + "/conversations/{conversation}/messages", "viewer", 200),
    ep("read conversation", "post", W + "/conversations/{conversation}/read", "sender", 200),
    ep("read message", "post", CH + "/messages/{incoming}/read", "sender", 200),
    # channels
    ep("list channels", "get", W + "/channels", "viewer", 200),
    ep(
        "create channel",
        "post",
        W + "/channels",
        "admin",
        201,
        {"name": "New", "platform": "sms", "connector": "sandbox"},
    ),
    ep("get channel", "get", W + "/channels/{spare_channel}", "viewer", 200),
    ep("patch channel", "patch", W + "/channels/{spare_channel}", "admin", 200, {"status": "inactive"}),
    ep("delete channel", "delete", W + "/channels/{spare_channel}", "admin", 204),
    # contacts
    ep("list contacts", "get", W + "/contacts", "viewer", 200),
    ep("create contact", "post", W + "/contacts", "admin", 201, {"displayName": "New"}),
    ep("get contact", "get", W + "/contacts/{contact}", "viewer", 200),
    ep("patch contact", "patch", W + "/contacts/{contact}", "admin", 200, {"displayName": "Changed"}),
    ep("delete contact", "delete", W + "/contacts/{contact}", "admin", 204),
    # tags
    ep("list tags", "get", W + "/tags", "viewer", 200),
    ep("create tag", "post", W + "/tags", "admin", 201, {"name": "fresh"}),
    ep("get tag", "get", W + "/tags/{tag}", "viewer", 200),
    ep("patch tag", "patch", W + "/tags/{tag}", "admin", 200, {"name": "renamed"}),
    ep("delete tag", "delete", W + "/tags/{tag}", "admin", 204),
    # templates
    ep("list templates", "get", W + "/templates", "viewer", 200),
    ep(
        "create template",
        "post",
        W + "/templates",
        "admin",
        201,
        {"name": "new", "content": {"sms": {"text": "x"}}},
    ),
    ep("get template", "get", W + "/templates/{template}", "viewer", 200),
    ep(
        "patch template",
        "patch",
        W + "/templates/{template}",
        "admin",
        200,
        {"content": {"sms": {"text": "y"}}},
    ),
    ep("delete template", "delete", W + "/templates/{template}", "admin", 204),
    # smart links
    ep("list smartlinks", "get", W + "/smartlinks", "viewer", 200),
    ep("create smartlink", "post", W + "/smartlinks", "admin", 201, {"url": "https://example.com/new"}),
    ep("get smartlink", "get", W + "/smartlinks/{smartlink}", "viewer", 200),
    ep("smartlink clicks", "get", W + "/smartlinks/{smartlink}/clicks", "viewer", 200),
    ep("patch smartlink", "patch", W + "/smartlinks/{smartlink}", "admin", 200, {"active": False}),
    ep("delete smartlink", "delete", W + "/smartlinks/{smartlink}", "admin", 204),
    # webhook subscriptions
    ep("list webhooks", "get", W + "/webhook-subscriptions", "viewer", 200),
    ep(
        "create webhook",
        "post",
        W + "/webhook-subscriptions",
        "admin",
        201,
        {"url": PUBLIC_HOOK, "events": ["sms.outbound"]},
    ),
    ep("get webhook", "get", W + "/webhook-subscriptions/{webhook}", "viewer", 200),
    ep("webhook attempts", "get", W + "/webhook-subscriptions/{webhook}/attempts", "viewer", 200),
    ep("patch webhook", "patch", W + "/webhook-subscriptions/{webhook}", "admin", 200, {"active": False}),
    ep("delete webhook", "delete", W + "/webhook-subscriptions/{webhook}", "admin", 204),
]
IDS = [e.name for e in ENDPOINTS]
WITH_OBJECTS = [e for e in ENDPOINTS if e.objects]
FOREIGN_CASES = [(e, obj) for e in WITH_OBJECTS for obj in e.objects]

# Every table any of these endpoints can write to.
WATCHED = [
    Channel,
    MessagingEndpoint,
    Contact,
    ContactIdentifier,
    Tag,
    Template,
    TemplateVersion,
    SmartLink,
    WebhookSubscription,
    Message,
    Message.tags.through,
    Message.contacts.through,
    MessageEvent,
    Media,
    Conversation,
    EngineRequest,
]


def snapshot() -> dict:
    return {model.__name__: list(model.objects.order_by("pk").values()) for model in WATCHED}


def populate(workspace) -> dict:
    """One object of every kind in `workspace`; returns the ids used in URLs."""
    channel = factories.create_channel(workspace, "sms", "sandbox", name="SMS")
    spare = factories.create_channel(workspace, "sms", "sandbox", name="Spare")  # no messages: deletable
    contact = factories.create_contact(workspace, phone=PHONE, display_name="Ann")
    message = factories.create_message(
        channel, contact, status="scheduled", scheduled_for=timezone.now() + timedelta(hours=1)
    )
    conversation = Conversation.objects.create(workspace=workspace, channel=channel, unread_count=1)
    conversation.participants.add(contact)
    incoming = factories.create_message(
        channel, contact, direction="incoming", status="delivered", conversation=conversation
    )
    tag = Tag.objects.create(workspace=workspace, name="vip")
    template = Template.objects.create(workspace=workspace, name="hello", content={"sms": {"text": "Hi"}})
    TemplateVersion.objects.create(template=template, version=1, content=template.content)
    smartlink = SmartLink.objects.create(workspace=workspace, linkid=1, url="https://example.com")
    webhook = WebhookSubscription.objects.create(
        workspace=workspace, url=PUBLIC_HOOK, events=["sms.outbound"]
    )
    return {
        "channel": channel.id,
        "spare_channel": spare.id,
        "contact": contact.id,
        "message": message.id,
        "conversation": conversation.id,
        "incoming": incoming.id,
        "tag": tag.id,
        "template": template.id,
        "smartlink": smartlink.id,
        "webhook": webhook.id,
    }


@pytest.fixture
def world(workspace, other_workspace):
    return {"mine": populate(workspace), "theirs": populate(other_workspace)}


def call(api, key: str | None, endpoint: Endpoint, url: str):
    client = api.key(key)
    kwargs = {"format": "json"} if endpoint.body is not None else {}
    if endpoint.body is not None:
        kwargs["data"] = endpoint.body
    return getattr(client, endpoint.method)(url, **kwargs)


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_no_key_is_401(api, workspace, world, endpoint):
    before = snapshot()
    resp = call(api, None, endpoint, endpoint.url(workspace.id, world["mine"]))
    assert resp.status_code == 401, resp.content
    assert resp.json()["code"] == "Unauthorized"
    assert snapshot() == before


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_an_unknown_key_is_401(api, workspace, world, endpoint):
    resp = call(api, "sbk_not-a-real-key-at-all-000000", endpoint, endpoint.url(workspace.id, world["mine"]))
    assert resp.status_code == 401


@pytest.mark.parametrize("role", ["viewer", "sender", "admin"])
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_each_role_is_allowed_or_403(api, workspace, world, endpoint, role, settings):
    settings.ALLOW_PRIVATE_URLS = False
    key = factories.create_access_key(workspace, role)[1]
    before = snapshot()
    resp = call(api, key, endpoint, endpoint.url(workspace.id, world["mine"]))
    if RANK[role] >= RANK[endpoint.role]:
        assert resp.status_code == endpoint.ok, resp.content
    else:
        assert resp.status_code == 403, resp.content
        assert resp.json()["code"] == "Forbidden"
        assert snapshot() == before


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_another_workspaces_admin_gets_404_and_changes_nothing(api, workspace, world, foreign_key, endpoint):
    before = snapshot()
    resp = call(api, foreign_key, endpoint, endpoint.url(workspace.id, world["mine"]))
    assert resp.status_code == 404, resp.content
    assert resp.json()["code"] == "NotFound"
    assert snapshot() == before


@pytest.mark.parametrize(
    "endpoint, obj", FOREIGN_CASES, ids=[f"{e.name}: foreign {o}" for e, o in FOREIGN_CASES]
)
def test_an_object_of_another_workspace_under_ones_own_workspace_is_404(
    api, workspace, other_workspace, world, foreign_key, endpoint, obj
):
    # The caller's own workspace id and own objects in the URL, except one object id that
    # belongs to `workspace` (e.g. its own channel but a message of the other workspace).
    ids = {**world["theirs"], obj: world["mine"][obj]}
    before = snapshot()
    resp = call(api, foreign_key, endpoint, endpoint.url(other_workspace.id, ids))
    assert resp.status_code == 404, resp.content
    assert resp.json()["code"] == "NotFound"
    assert snapshot() == before


@pytest.mark.parametrize("endpoint", WITH_OBJECTS, ids=[e.name for e in WITH_OBJECTS])
def test_a_foreign_object_answers_like_a_missing_one(
    api, workspace, other_workspace, world, foreign_key, endpoint
):
    """No oracle: another workspace's id and an id that never existed give the same answer."""
    missing = {
        name: (999999 if isinstance(value, int) else "00000000-0000-4000-8000-000000000000")
        for name, value in world["mine"].items()
    }
    # Only the objects of this endpoint's path are swapped; the rest stay the caller's own.
    for_foreign = {**world["theirs"], **{name: world["mine"][name] for name in endpoint.objects}}
    for_missing = {**world["theirs"], **{name: missing[name] for name in endpoint.objects}}
    foreign = call(api, foreign_key, endpoint, endpoint.url(other_workspace.id, for_foreign))
    absent = call(api, foreign_key, endpoint, endpoint.url(other_workspace.id, for_missing))
    assert foreign.status_code == absent.status_code == 404
    assert foreign.json() == absent.json()
