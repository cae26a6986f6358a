"""Pause/resume a channel and mark a conversation read from the dashboard: roles, scoping, CSRF."""

import pytest
from django.test import Client

from messaging.models import Channel, Conversation, Direction, EngineRequest, Message
from tests import factories

pytestmark = pytest.mark.django_db
JSON = {"HTTP_ACCEPT": "application/json"}


def logged_in(workspace, role: str, csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    client.force_login(factories.create_user(workspace=workspace, role=role))
    return client


def paused(channel: Channel) -> bool:
    channel.refresh_from_db()
    return channel.paused


def test_an_admin_pauses_and_resumes_a_channel(workspace, sms_channel):
    client = logged_in(workspace, "admin")
    response = client.post(f"/portal/channels/{sms_channel.id}/pause/", **JSON)
    assert response.status_code == 200
    assert response.json() == {"id": str(sms_channel.id), "paused": True}
    assert paused(sms_channel)
    response = client.post(f"/portal/channels/{sms_channel.id}/resume/", **JSON)
    assert response.json() == {"id": str(sms_channel.id), "paused": False}
    assert not paused(sms_channel)


def test_the_form_without_javascript_returns_to_the_dashboard(workspace, sms_channel):
    response = logged_in(workspace, "admin").post(f"/portal/channels/{sms_channel.id}/pause/")
    assert response.status_code == 302
    assert response["Location"] == f"/?workspace={workspace.id}"
    assert paused(sms_channel)


@pytest.mark.parametrize("role", ["viewer", "sender"])
def test_pausing_needs_the_admin_role(workspace, sms_channel, role):
    response = logged_in(workspace, role).post(f"/portal/channels/{sms_channel.id}/pause/", **JSON)
    assert response.status_code == 403
    assert "admin role" in response.json()["message"]
    assert not paused(sms_channel)
    page = logged_in(workspace, role).post(f"/portal/channels/{sms_channel.id}/pause/")
    assert page.status_code == 403 and b"admin role" in page.content


def test_another_workspaces_channel_is_not_found(workspace, other_workspace):
    theirs = factories.create_channel(other_workspace)
    client = logged_in(workspace, "admin")
    assert client.post(f"/portal/channels/{theirs.id}/pause/", **JSON).status_code == 404
    assert (
        client.post("/portal/channels/00000000-0000-0000-0000-000000000000/pause/", **JSON).status_code == 404
    )
    assert not paused(theirs)


def test_pause_is_post_only_with_a_csrf_token(workspace, sms_channel):
    client = logged_in(workspace, "admin", csrf=True)
    assert client.get(f"/portal/channels/{sms_channel.id}/pause/").status_code == 405
    assert client.post(f"/portal/channels/{sms_channel.id}/pause/", **JSON).status_code == 403
    assert not paused(sms_channel)
    client.get("/")  # sets the csrftoken cookie, as the page does
    token = client.cookies["csrftoken"].value
    response = client.post(f"/portal/channels/{sms_channel.id}/pause/", HTTP_X_CSRFTOKEN=token, **JSON)
    assert response.status_code == 200
    assert paused(sms_channel)


def test_anonymous_posts_are_refused(sms_channel):
    response = Client().post(f"/portal/channels/{sms_channel.id}/pause/", **JSON)
    assert response.status_code == 401
    assert not paused(sms_channel)


@pytest.fixture
def unread(workspace, sms_channel):
    contact = factories.create_contact(workspace, phone="+15550002222")
    conversation = Conversation.objects.create(workspace=workspace, channel=sms_channel, unread_count=2)
    conversation.participants.add(contact)
    for text in ("one", "two"):
        factories.create_message(
            sms_channel, contact, text=text, direction=Direction.INCOMING, conversation=conversation
        )
    factories.create_message(sms_channel, contact, text="our reply", conversation=conversation)
    return conversation


def unread_state(conversation: Conversation) -> tuple[int, int]:
    conversation.refresh_from_db()
    return conversation.unread_count, Message.objects.filter(
        conversation=conversation, read=False, direction="incoming"
    ).count()


@pytest.mark.parametrize("role", ["sender", "admin"])
def test_a_sender_marks_a_conversation_read(workspace, unread, role):
    response = logged_in(workspace, role).post(f"/portal/conversations/{unread.id}/read/", **JSON)
    assert response.status_code == 200
    assert response.json()["unreadCount"] == 0
    assert unread_state(unread) == (0, 0)


def test_a_viewer_cannot_mark_read(workspace, unread):
    response = logged_in(workspace, "viewer").post(f"/portal/conversations/{unread.id}/read/", **JSON)
    assert response.status_code == 403
    assert unread_state(unread) == (2, 2)


def test_another_workspaces_conversation_is_not_found(other_workspace, unread):
    response = logged_in(other_workspace, "admin").post(f"/portal/conversations/{unread.id}/read/", **JSON)
    assert response.status_code == 404
    assert unread_state(unread) == (2, 2)


def test_marking_a_phone_conversation_read_tells_the_phone(workspace):
    engine = factories.create_channel(workspace, "sms", "engine", name="Phones")
    phone, _ = factories.create_endpoint(engine, name="Pixel")
    contact = factories.create_contact(workspace, phone="+14155552671")
    conversation = Conversation.objects.create(
        workspace=workspace, channel=engine, endpoint=phone, external_id=f"{phone.id}:thread-7", unread_count=1
    )
    conversation.participants.add(contact)
    factories.create_message(
        engine, contact, direction=Direction.INCOMING, conversation=conversation, external_id=f"{phone.id}:sms-42"
    )
    response = logged_in(workspace, "sender").post(f"/portal/conversations/{conversation.id}/read/", **JSON)
    assert response.status_code == 200
    assert unread_state(conversation) == (0, 0)
    request = EngineRequest.objects.get(endpoint=phone, action="UpdateMessagesStatus")
    assert request.detail["read"] == ["sms-42"]
