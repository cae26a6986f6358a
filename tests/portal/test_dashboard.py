"""The portal dashboard at `/`: login, workspace scoping, what it shows, its JSON snapshot."""

from datetime import timedelta

import pytest
from django.utils import timezone

from messaging.models import Conversation, Direction, EngineRequest, Status
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def acme(workspace):
    return workspace


@pytest.fixture
def ann(acme, client):
    user = factories.create_user("ann", workspace=acme, role="viewer")
    client.force_login(user)
    return user


def test_it_sends_anonymous_visitors_to_the_login_page(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/"
    assert client.get("/portal/data/", HTTP_ACCEPT="application/json").status_code == 401


def test_it_shows_the_members_workspace_only(client, ann, acme, other_workspace):
    ours = factories.create_channel(acme, name="Acme SMS")
    theirs = factories.create_channel(other_workspace, name="Globex SMS")
    factories.create_message(ours, text="hello from acme")
    factories.create_message(theirs, text="globex secret")
    page = client.get("/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "hello from acme" in html and "Acme SMS" in html
    assert "globex secret" not in html and "Globex" not in html
    assert client.get(f"/?workspace={other_workspace.id}").status_code == 404
    assert client.get("/?workspace=not-an-id").status_code == 404
    assert client.get(f"/portal/data/?workspace={other_workspace.id}").status_code == 404


def test_a_superuser_switches_between_all_workspaces(client, acme, other_workspace):
    root = factories.create_user("root", is_superuser=True, is_staff=True)
    client.force_login(root)
    factories.create_message(factories.create_channel(other_workspace, name="G"), text="globex hello")
    page = client.get(f"/?workspace={other_workspace.id}").content.decode()
    assert "globex hello" in page
    assert f'<option value="{acme.id}">Acme</option>' in page
    # the choice sticks for the session
    assert "globex hello" in client.get("/").content.decode()


def test_a_user_without_membership_is_told_so(client):
    client.force_login(factories.create_user("nobody"))
    page = client.get("/")
    assert page.status_code == 200
    assert "not a member of any workspace" in page.content.decode()


def test_the_snapshot_counts_the_last_hour(client, ann, acme, sms_channel):
    now = timezone.now()
    long_ago = now - timedelta(hours=2)
    for status in [Status.ACCEPTED, Status.SCHEDULED, Status.PROCESSING]:
        factories.create_message(sms_channel, status=status, last_status_at=long_ago)  # queued, however old
    factories.create_message(sms_channel, status=Status.SENT)
    factories.create_message(sms_channel, status=Status.DELIVERED)
    factories.create_message(sms_channel, status=Status.DELIVERED, last_status_at=long_ago)  # too old
    factories.create_message(sms_channel, status=Status.SENDING_FAILED)
    factories.create_message(sms_channel, status=Status.EXPIRED)
    factories.create_message(
        sms_channel, status=Status.DELIVERED, direction=Direction.INCOMING
    )  # not sent by us
    other = factories.create_channel(factories.create_workspace("Elsewhere"))
    factories.create_message(other, status=Status.ACCEPTED)

    body = client.get(f"/portal/data/?workspace={acme.id}").json()
    assert body["counters"] == {"queued": 3, "sent": 2, "delivered": 1, "failed": 2}
    assert body["workspace"] == {"id": str(acme.id), "name": "Acme", "role": "viewer"}
    assert len(body["messages"]) == 9
    assert {m["channel"] for m in body["messages"]} == {"SMS"}


def test_the_snapshot_lists_devices_conversations_and_channels(client, ann, acme, sms_channel):
    engine = factories.create_channel(acme, "sms", "engine", name="Phones")
    phone, _ = factories.create_endpoint(engine, name="Pixel")
    phone.connection_state, phone.send_permission = "CONNECTED", "ON"
    phone.save()
    factories.create_endpoint(factories.create_channel(factories.create_workspace("X"), "sms", "engine"))
    sending = factories.create_message(engine, status=Status.PROCESSING)
    expires = timezone.now() + timedelta(minutes=5)
    EngineRequest.objects.create(
        token="t1", endpoint=phone, action="SendMessage", message=sending, expires_at=expires
    )
    EngineRequest.objects.create(
        token="t2", endpoint=phone, action="SendMessage", expires_at=expires, answered_at=timezone.now()
    )
    contact = factories.create_contact(acme, phone="+15550001111", display_name="Bea")
    conversation = Conversation.objects.create(workspace=acme, channel=engine, unread_count=2)
    conversation.participants.add(contact)
    factories.create_message(
        engine, contact, text="are you there?", direction=Direction.INCOMING, conversation=conversation
    )
    sms_channel.paused = True
    sms_channel.save()

    body = client.get("/portal/data/", HTTP_ACCEPT="application/json").json()
    assert [
        (d["name"], d["channel"], d["connectionState"], d["sendPermission"], d["inFlight"])
        for d in body["devices"]
    ] == [("Pixel", "Phones", "CONNECTED", "ON", 1)]
    [conv] = body["conversations"]
    assert (conv["participants"], conv["unreadCount"], conv["lastText"]) == ("Bea", 2, "are you there?")
    assert [(c["name"], c["state"]) for c in body["channels"]] == [("Phones", "running"), ("SMS", "paused")]
    page = client.get("/").content.decode()
    assert "Pixel" in page and "are you there?" in page and "Resume" in page


def test_the_page_is_accessible_and_loads_no_third_party_assets(client, ann):
    html = client.get("/").content.decode()
    assert '<main id="main"' in html and 'role="banner"' in html and 'role="contentinfo"' in html
    assert 'aria-live="polite"' in html
    assert '<label for="workspace-select">' in html
    assert 'name="viewport"' in html
    assert "http://" not in html.replace("http://testserver", "") and "https://" not in html
    assert "/static/portal.js" in html and "/static/portal.css" in html
