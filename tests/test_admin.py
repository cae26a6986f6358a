"""The admin at /admin/: workspace scoping for staff, secrets shown once, read-only status."""

import re

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.urls import reverse

from messaging.models import (
    AccessKey,
    AppUser,
    Channel,
    Contact,
    Message,
    MessagingEndpoint,
    Service,
    Template,
    WebhookSubscription,
)
from messaging.services.status import transition
from tests import factories


def changelist(model) -> str:
    return reverse(f"admin:messaging_{model._meta.model_name}_changelist")


def change(obj) -> str:
    return reverse(f"admin:messaging_{obj._meta.model_name}_change", args=[obj.pk])


def add(model) -> str:
    return reverse(f"admin:messaging_{model._meta.model_name}_add")


def shown_secret(response) -> str:
    match = re.search(r"<code>([^<]+)</code>", response.content.decode())
    assert match, "no secret shown"
    return match.group(1)


@pytest.fixture
def superuser(db):
    return get_user_model().objects.create_superuser("root", "root@example.com", "pw-123456789")


@pytest.fixture
def staff(workspace):
    """A staff member who administers Acme (and nothing else)."""
    return factories.create_user("staffer", workspace=workspace, role="admin", is_staff=True)


@pytest.fixture
def data(workspace, other_workspace):
    mine = factories.create_channel(workspace, "sms", "sandbox", name="Acme SMS")
    theirs = factories.create_channel(other_workspace, "sms", "sandbox", name="Globex SMS")
    my_contact = factories.create_contact(workspace, phone="+14155552671", display_name="Ann Acme")
    their_contact = factories.create_contact(other_workspace, phone="+12025550143", display_name="Gus Globex")
    return {
        "mine": mine,
        "theirs": theirs,
        "my_contact": my_contact,
        "their_contact": their_contact,
        "my_message": factories.create_message(mine, my_contact, text="acme hello"),
        "their_message": factories.create_message(theirs, their_contact, text="globex hello"),
    }


@pytest.mark.django_db
class TestScoping:
    def test_a_superuser_sees_every_workspace(self, client, superuser, data):
        client.force_login(superuser)
        body = client.get(changelist(Channel)).content.decode()
        assert "Acme SMS" in body and "Globex SMS" in body
        body = client.get(changelist(Contact)).content.decode()
        assert "Ann Acme" in body and "Gus Globex" in body

    def test_staff_see_only_their_workspaces_rows(self, client, staff, data):
        client.force_login(staff)
        body = client.get(changelist(Channel)).content.decode()
        assert "Acme SMS" in body and "Globex SMS" not in body
        body = client.get(changelist(Contact)).content.decode()
        assert "Ann Acme" in body and "Gus Globex" not in body
        body = client.get(changelist(Message)).content.decode()
        assert str(data["my_message"].id) in body and str(data["their_message"].id) not in body
        # The related-only filters list nothing of the other workspace either.
        assert "Globex" not in client.get(changelist(Message)).content.decode()

    def test_another_workspaces_objects_are_out_of_reach(self, client, staff, data):
        client.force_login(staff)
        for obj in (data["theirs"], data["their_contact"], data["their_message"]):
            response = client.get(change(obj))
            assert response.status_code == 302 and response.url == reverse("admin:index")
        response = client.post(change(data["theirs"]), {"name": "hijacked"})
        assert response.status_code == 302
        assert Channel.objects.get(pk=data["theirs"].pk).name == "Globex SMS"
        assert client.get(change(data["mine"])).status_code == 200

    def test_foreign_key_choices_are_limited_to_their_workspaces(self, client, staff, workspace, other_workspace, data):
        client.force_login(staff)
        form = client.get(add(Channel)).context["adminform"].form
        assert list(form.fields["workspace"].queryset) == [workspace]
        factories.create_channel(other_workspace, "sms", "engine", name="Globex phone")
        mine = factories.create_channel(workspace, "sms", "engine", name="Acme phone")
        form = client.get(add(MessagingEndpoint)).context["adminform"].form
        assert list(form.fields["channel"].queryset) == [mine]
        response = client.post(
            add(Channel),
            {"workspace": other_workspace.pk, "name": "Sneaky", "platform": "sms", "connector": "sandbox",
             "message_type": "transactional", "status": "active", "settings": "{}",
             "endpoints-TOTAL_FORMS": "0", "endpoints-INITIAL_FORMS": "0"},
        )  # fmt: skip
        assert response.status_code == 200
        assert "Select a valid choice" in response.content.decode()
        assert not Channel.objects.filter(name="Sneaky").exists()

    def test_a_viewer_member_can_look_but_not_change(self, client, workspace, data):
        viewer = factories.create_user("looker", workspace=workspace, role="viewer", is_staff=True)
        client.force_login(viewer)
        assert "Acme SMS" in client.get(changelist(Channel)).content.decode()
        page = client.get(change(data["mine"]))
        assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
        assert client.post(change(data["mine"]), {"name": "renamed"}).status_code == 403
        assert client.get(add(Channel)).status_code == 403
        assert Channel.objects.get(pk=data["mine"].pk).name == "Acme SMS"

    def test_staff_without_a_membership_see_no_workspace_data(self, client, data):
        outsider = factories.create_user("outsider", is_staff=True)
        client.force_login(outsider)
        assert client.get(changelist(Channel)).status_code == 403
        assert "Acme SMS" not in client.get(reverse("admin:index")).content.decode()


@pytest.mark.django_db
class TestSecrets:
    def test_creating_an_access_key_shows_it_once_and_stores_a_hash(self, client, staff, workspace):
        client.force_login(staff)
        response = client.post(
            add(AccessKey), {"workspace": workspace.pk, "name": "CI", "role": "sender", "active": "on"}, follow=True
        )
        assert response.status_code == 200
        plaintext = shown_secret(response)
        key = AccessKey.objects.get(name="CI")
        assert AccessKey.find_by_token(plaintext) == key
        assert plaintext not in (key.token_hash, key.token_prefix)
        page = client.get(change(key)).content.decode()
        assert plaintext not in page and key.token_hash not in page
        assert key.token_prefix in page  # the prefix identifies the key
        assert plaintext not in client.get(changelist(AccessKey)).content.decode()

    def test_endpoint_and_service_tokens_are_shown_once(self, client, staff, workspace):
        client.force_login(staff)
        engine = factories.create_channel(workspace, "sms", "engine")
        response = client.post(add(MessagingEndpoint), {"channel": engine.pk, "name": "Phone 9"}, follow=True)
        assert MessagingEndpoint.find_by_token(shown_secret(response)).name == "Phone 9"
        response = client.post(
            add(Service),
            {"workspace": workspace.pk, "name": "Shop", "active": "on", "default_priority": 2, "channel_map": "{}"},
            follow=True,
        )
        service = Service.find_by_token(shown_secret(response))
        assert service.name == "Shop"
        assert service.token_hash not in client.get(change(service)).content.decode()

    def test_the_issue_new_secret_action_retires_the_old_key(self, client, staff, workspace):
        key, old = factories.create_access_key(workspace, "admin", "Ops")
        client.force_login(staff)
        response = client.post(
            changelist(AccessKey), {"action": "issue_new_secret", "_selected_action": [key.pk]}, follow=True
        )
        new = shown_secret(response)
        assert AccessKey.find_by_token(old) is None and AccessKey.find_by_token(new) == key

    def test_channel_passwords_are_masked_and_kept(self, client, staff, workspace):
        channel = factories.create_channel(
            workspace, "email", "smtp", name="Mail", settings={"host": "127.0.0.1", "port": 25, "password": "hunter22"}
        )
        client.force_login(staff)
        page = client.get(change(channel)).content.decode()
        assert "hunter22" not in page and "********" in page
        response = client.post(
            change(channel),
            {"workspace": workspace.pk, "name": "Mail 2", "message_type": "transactional", "status": "active",
             "settings": '{"host": "127.0.0.1", "port": 2525, "password": "********"}',
             "endpoints-TOTAL_FORMS": "0", "endpoints-INITIAL_FORMS": "0"},
        )  # fmt: skip
        assert response.status_code == 302
        channel.refresh_from_db()
        assert channel.name == "Mail 2"
        assert channel.settings == {"host": "127.0.0.1", "port": 2525, "password": "hunter22"}

    def test_an_app_user_password_is_hashed(self, client, staff, workspace):
        client.force_login(staff)
        response = client.post(
            add(AppUser),
            {"workspace": workspace.pk, "username": "ann", "msisdn": "(415) 555-2671", "new_password": "pw-abc-123",
             "active": "on"},
        )  # fmt: skip
        assert response.status_code == 302
        user = AppUser.objects.get(username="ann")
        assert user.check_password("pw-abc-123") and user.msisdn == "+14155552671"


@pytest.mark.django_db
class TestMessagesAndContacts:
    def test_a_message_shows_its_events_and_its_status_cannot_be_edited(self, client, staff, data):
        message = data["my_message"]
        transition(message, "processing", actor="dispatcher")
        client.force_login(staff)
        page = client.get(change(message)).content.decode()
        assert "dispatcher" in page and "processing" in page
        assert 'name="status"' not in page
        assert client.post(change(message), {"status": "delivered"}).status_code == 403
        message.refresh_from_db()
        assert message.status == "processing"

    def test_contact_identifiers_are_normalised_and_duplicates_refused(self, client, staff, workspace, data):
        client.force_login(staff)
        form = {
            "workspace": workspace.pk,
            "display_name": "Bea",
            "attributes": "{}",
            "opt_outs": "[]",
            "identifiers-TOTAL_FORMS": "1",
            "identifiers-INITIAL_FORMS": "0",
            "identifiers-0-key": "phonenumber",
            "identifiers-0-value": "(202) 555-0143",
        }
        assert client.post(add(Contact), form).status_code == 302
        bea = Contact.objects.get(display_name="Bea")
        assert list(bea.identifiers.values_list("value", flat=True)) == ["+12025550143"]
        # Ann's number belongs to Ann: a clear form error, not a crash.
        response = client.post(add(Contact), {**form, "display_name": "Copy", "identifiers-0-value": "4155552671"})
        assert response.status_code == 200
        assert "already belongs to another contact" in response.content.decode()
        assert not Contact.objects.filter(display_name="Copy").exists()


@pytest.mark.django_db
def test_every_model_is_registered_and_its_list_renders(client, superuser, data):
    client.force_login(superuser)
    for model in apps.get_app_config("messaging").get_models():
        assert admin.site.is_registered(model), model
        response = client.get(changelist(model))
        assert response.status_code == 200, model


@pytest.mark.django_db
class TestTemplatesAndWebhooks:
    def test_editing_a_template_makes_a_new_version(self, client, staff, workspace):
        client.force_login(staff)
        form = {
            "workspace": workspace.pk, "name": "welcome", "locale": "en",
            "content": '{"sms": {"text": "Hi {{name}}"}}',
            "versions-TOTAL_FORMS": "0", "versions-INITIAL_FORMS": "0",
        }  # fmt: skip
        assert client.post(add(Template), form).status_code == 302
        template = Template.objects.get(name="welcome")
        assert template.version == 1
        response = client.post(change(template), {**form, "content": '{"sms": {"text": "Hello {{name}}"}}'})
        assert response.status_code == 302
        template.refresh_from_db()
        assert template.version == 2 and template.content == {"sms": {"text": "Hello {{name}}"}}
        assert list(template.versions.order_by("version").values_list("version", flat=True)) == [1, 2]
        response = client.post(change(template), {**form, "content": '{"fax": {"text": "x"}}'})
        assert response.status_code == 200 and "content.fax: is not a platform" in response.content.decode()

    def test_a_webhook_subscription_needs_known_events_and_a_safe_url(self, client, staff, workspace):
        client.force_login(staff)
        form = {
            "workspace": workspace.pk, "url": "http://169.254.169.254/hook", "events": '["sms.outbound"]',
            "active": "on", "attempts-TOTAL_FORMS": "0", "attempts-INITIAL_FORMS": "0",
        }  # fmt: skip
        response = client.post(add(WebhookSubscription), form)
        assert response.status_code == 200 and "link-local" in response.content.decode()
        response = client.post(add(WebhookSubscription), {**form, "events": '["nonsense"]'})
        assert "events[0]" in response.content.decode()
        assert not WebhookSubscription.objects.exists()
