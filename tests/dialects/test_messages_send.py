"""POST /workspaces/{ws}/channels/{ch}/messages and .../batch/messages (seed 001 rules)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from messaging.models import (
    Contact,
    ContactIdentifier,
    Message,
    MessageEvent,
    Tag,
    Template,
    TemplateVersion,
)
from messaging.services import dispatch, send
from tests import factories

PHONE = "+12015550123"


def send_url(channel) -> str:
    return f"/workspaces/{channel.workspace_id}/channels/{channel.id}/messages"


def batch_url(channel) -> str:
    return f"/workspaces/{channel.workspace_id}/channels/{channel.id}/batch/messages"


def sms(text: str = "Hello", to: str = PHONE, **extra) -> dict:
    return {
        "receiver": {"contacts": [{"identifierKey": "phonenumber", "identifierValue": to}]},
        "body": {"type": "text", "text": {"text": text}},
        **extra,
    }


def field_error(resp, field: str) -> list[str]:
    """The problems reported for `field` in a 422 answer."""
    assert resp.status_code == 422, resp.content
    body = resp.json()
    assert body["code"] == "InvalidPayload"
    assert field in body["details"], body
    return body["details"][field]


@pytest.fixture
def client(api, sender_key):
    return api.key(sender_key)


# --- the happy path --------------------------------------------------------------------------


def test_it_accepts_a_text_message_and_creates_the_contact(client, sms_channel, workspace):
    resp = client.post(send_url(sms_channel), sms(reference="my-own-identifier"), format="json")
    assert resp.status_code == 202, resp.content
    body = resp.json()
    assert body["status"] == "accepted"
    assert body["direction"] == "outgoing"
    assert body["channelId"] == str(sms_channel.id)
    assert body["reference"] == "my-own-identifier"
    assert body["body"] == {"type": "text", "text": {"text": "Hello"}}
    assert body["validity"] == 129600
    assert body["scheduledFor"] is None
    assert body["priority"] == 2
    for key in ("id", "sender", "receiver", "template", "reason", "tags", "shortLinks", "lastStatusAt", "createdAt", "updatedAt"):
        assert key in body
    contact = Contact.objects.get(workspace=workspace)
    assert body["receiver"] == {
        "contacts": [{"id": str(contact.id), "identifierKey": "phonenumber", "identifierValue": PHONE}]
    }
    message = Message.objects.get(id=body["id"])
    assert message.contact == contact
    assert list(message.contacts.all()) == [contact]
    assert message.due_at == message.created_at
    assert message.expires_at == message.created_at + timedelta(seconds=129600)
    assert list(MessageEvent.objects.filter(message=message).values_list("status", flat=True)) == ["accepted"]


def test_it_asks_for_a_dispatch_only_after_commit(client, sms_channel, monkeypatch, django_capture_on_commit_callbacks):
    calls = []
    monkeypatch.setattr(dispatch, "request_dispatch", lambda: calls.append(1))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        resp = client.post(send_url(sms_channel), sms(), format="json")
        assert calls == []  # not before the message is committed
    assert resp.status_code == 202
    assert callbacks and calls == [1]


def test_a_send_on_a_paused_channel_wakes_no_dispatcher(client, sms_channel, monkeypatch, django_capture_on_commit_callbacks):
    calls = []
    monkeypatch.setattr(dispatch, "request_dispatch", lambda: calls.append(1))
    dispatch.set_paused(sms_channel, True)
    with django_capture_on_commit_callbacks(execute=True):
        resp = client.post(send_url(sms_channel), sms(), format="json")
    assert resp.status_code == 202
    assert resp.json()["status"] == "accepted"  # accepted, waiting for the channel
    assert calls == []
    with django_capture_on_commit_callbacks(execute=True):
        dispatch.set_paused(sms_channel, False)
    assert calls == [1]  # resuming asks for the dispatch


def test_it_normalises_a_national_number_with_the_workspace_region(client, sms_channel, workspace):
    resp = client.post(send_url(sms_channel), sms(to="(201) 555-0123"), format="json")
    assert resp.status_code == 202, resp.content
    assert ContactIdentifier.objects.get(workspace=workspace).value == PHONE


def test_it_reuses_the_contact_that_owns_the_identifier(client, sms_channel, workspace):
    contact = factories.create_contact(workspace, phone=PHONE)
    resp = client.post(send_url(sms_channel), sms(to="201-555-0123"), format="json")
    assert resp.status_code == 202
    assert resp.json()["receiver"]["contacts"][0]["id"] == str(contact.id)
    assert Contact.objects.filter(workspace=workspace).count() == 1


def test_it_lowercases_an_email_receiver(client, email_channel, workspace):
    data = {
        "receiver": {"contacts": [{"identifierKey": "emailaddress", "identifierValue": "Ann@Example.COM"}]},
        "body": {"type": "html", "html": {"html": "<p>Hi</p>", "metadata": {"subject": "Hello"}}},
    }
    resp = client.post(send_url(email_channel), data, format="json")
    assert resp.status_code == 202, resp.content
    assert resp.json()["receiver"]["contacts"][0]["identifierValue"] == "ann@example.com"


def test_it_sends_to_a_contact_by_id(client, sms_channel, workspace):
    contact = factories.create_contact(workspace, phone=PHONE)
    resp = client.post(send_url(sms_channel), {**sms(), "receiver": {"contacts": [{"id": str(contact.id)}]}}, format="json")
    assert resp.status_code == 202, resp.content
    assert resp.json()["receiver"]["contacts"] == [
        {"id": str(contact.id), "identifierKey": "phonenumber", "identifierValue": PHONE}
    ]


# --- receivers -----------------------------------------------------------------------------------


def test_it_rejects_a_contact_id_of_another_workspace(client, sms_channel, other_workspace):
    stranger = factories.create_contact(other_workspace, phone=PHONE)
    resp = client.post(send_url(sms_channel), {**sms(), "receiver": {"contacts": [{"id": str(stranger.id)}]}}, format="json")
    assert field_error(resp, "receiver.contacts[0].id")
    assert not Message.objects.exists()


def test_it_rejects_an_unknown_contact_id(client, sms_channel):
    data = {**sms(), "receiver": {"contacts": [{"id": "6f1c1f7e-8d3c-4c53-9a55-2f1f3b0c9d11"}]}}
    assert field_error(client.post(send_url(sms_channel), data, format="json"), "receiver.contacts[0].id")


def test_it_rejects_a_contact_without_an_identifier_for_the_platform(client, sms_channel, workspace):
    contact = factories.create_contact(workspace, email="ann@example.com")
    data = {**sms(), "receiver": {"contacts": [{"id": str(contact.id)}]}}
    problems = field_error(client.post(send_url(sms_channel), data, format="json"), "receiver.contacts[0]")
    assert "phonenumber" in problems[0]


def test_it_rejects_an_invalid_phone_number(client, sms_channel):
    resp = client.post(send_url(sms_channel), sms(to="12"), format="json")
    assert field_error(resp, "receiver.contacts[0].identifierValue")
    assert not Contact.objects.exists()


def test_it_rejects_an_unknown_identifier_key(client, sms_channel):
    data = {**sms(), "receiver": {"contacts": [{"identifierKey": "fax", "identifierValue": "1"}]}}
    assert field_error(client.post(send_url(sms_channel), data, format="json"), "receiver.contacts[0].identifierKey")


def test_it_rejects_several_receivers_outside_email(client, sms_channel):
    data = sms()
    data["receiver"]["contacts"].append({"identifierKey": "phonenumber", "identifierValue": "+12015550124"})
    problems = field_error(client.post(send_url(sms_channel), data, format="json"), "receiver.contacts")
    assert "email" in problems[0]
    assert not Contact.objects.exists()


def test_it_accepts_several_receivers_on_email(client, email_channel):
    data = {
        "receiver": {
            "contacts": [
                {"identifierKey": "emailaddress", "identifierValue": "a@example.com"},
                {"identifierKey": "emailaddress", "identifierValue": "b@example.com"},
            ]
        },
        "body": {"type": "text", "text": {"text": "Hi", "metadata": {"subject": "Greetings"}}},
    }
    resp = client.post(send_url(email_channel), data, format="json")
    assert resp.status_code == 202, resp.content
    assert len(resp.json()["receiver"]["contacts"]) == 2
    assert Message.objects.get().contacts.count() == 2


def test_it_requires_a_receiver(client, sms_channel):
    data = sms()
    del data["receiver"]
    assert field_error(client.post(send_url(sms_channel), data, format="json"), "receiver")


# --- body and template ------------------------------------------------------------------------


def test_it_rejects_both_body_and_template(client, sms_channel):
    resp = client.post(send_url(sms_channel), {**sms(), "template": {"name": "x"}}, format="json")
    assert "not both" in field_error(resp, "body")[0]


def test_it_rejects_neither_body_nor_template(client, sms_channel):
    data = sms()
    del data["body"]
    assert field_error(client.post(send_url(sms_channel), data, format="json"), "body")


def test_it_accepts_an_image_body(client, sms_channel):
    body = {"type": "image", "image": {"images": [{"mediaUrl": "https://cdn.example.com/a.png", "altText": "A"}]}}
    resp = client.post(send_url(sms_channel), {**sms(), "body": body}, format="json")
    assert resp.status_code == 202, resp.content
    assert resp.json()["body"] == body


def test_it_accepts_a_file_body(client, sms_channel):
    files = [{"mediaUrl": "https://cdn.example.com/a.pdf", "contentType": "application/pdf", "filename": "a.pdf"}]
    body = {"type": "file", "file": {"files": files}}
    resp = client.post(send_url(sms_channel), {**sms(), "body": body}, format="json")
    assert resp.status_code == 202, resp.content
    assert Message.objects.get().body == body


def test_it_rejects_an_image_without_a_valid_url(client, sms_channel):
    body = {"type": "image", "image": {"images": [{"mediaUrl": "not a url"}]}}
    resp = client.post(send_url(sms_channel), {**sms(), "body": body}, format="json")
    assert field_error(resp, "body.image.images[0].mediaUrl")


def test_it_rejects_a_body_without_its_block(client, sms_channel):
    resp = client.post(send_url(sms_channel), {**sms(), "body": {"type": "text"}}, format="json")
    assert field_error(resp, "body.text")


def test_it_rejects_html_outside_email(client, sms_channel):
    body = {"type": "html", "html": {"html": "<b>x</b>", "metadata": {"subject": "s"}}}
    problems = field_error(client.post(send_url(sms_channel), {**sms(), "body": body}, format="json"), "body.type")
    assert "email" in problems[0]


def make_template(workspace, name="welcome", locale="en") -> Template:
    template = Template.objects.create(
        workspace=workspace,
        name=name,
        locale=locale,
        version=2,
        content={"sms": {"text": "Hi {{name}}, code {{ code }}"}, "email": {"subject": "Hi {{name}}", "html": "<p>{{name}}</p>"}},
    )
    TemplateVersion.objects.create(template=template, version=1, content={"sms": {"text": "Old {{name}}"}})
    TemplateVersion.objects.create(template=template, version=2, content=template.content)
    return template


def params(**values) -> list[dict]:
    return [{"type": "string", "key": k, "value": v} for k, v in values.items()]


def template_request(template_ref: dict) -> dict:
    data = sms()
    del data["body"]
    data["template"] = template_ref
    return data


def test_it_renders_the_latest_template_version_by_name(client, sms_channel, workspace):
    template = make_template(workspace)
    resp = client.post(
        send_url(sms_channel), template_request({"name": "welcome", "parameters": params(name="Ann", code="42")}), format="json"
    )
    assert resp.status_code == 202, resp.content
    body = resp.json()
    assert body["body"] == {"type": "text", "text": {"text": "Hi Ann, code 42"}}
    assert body["template"]["id"] == str(template.id)
    assert body["template"]["version"] == 2
    message = Message.objects.get()
    assert message.template == template
    assert message.template_info["parameters"] == params(name="Ann", code="42")


def test_it_renders_an_older_version_by_id(client, sms_channel, workspace):
    template = make_template(workspace)
    ref = {"id": str(template.id), "version": 1, "parameters": params(name="Bo")}
    resp = client.post(send_url(sms_channel), template_request(ref), format="json")
    assert resp.status_code == 202, resp.content
    assert resp.json()["body"]["text"]["text"] == "Old Bo"


def test_it_renders_the_email_block_with_escaped_html(client, email_channel, workspace):
    make_template(workspace)
    data = template_request({"name": "welcome", "parameters": params(name="<Ann>")})
    data["receiver"] = {"contacts": [{"identifierKey": "emailaddress", "identifierValue": "a@example.com"}]}
    resp = client.post(send_url(email_channel), data, format="json")
    assert resp.status_code == 202, resp.content
    assert resp.json()["body"] == {"type": "html", "html": {"html": "<p>&lt;Ann&gt;</p>", "metadata": {"subject": "Hi <Ann>"}}}


def test_it_names_a_missing_template_variable(client, sms_channel, workspace):
    make_template(workspace)
    resp = client.post(send_url(sms_channel), template_request({"name": "welcome", "parameters": params(code="1")}), format="json")
    assert field_error(resp, "template.parameters") == ["missing variable 'name'"]
    assert resp.json()["message"] == "template.parameters: missing variable 'name'"
    assert not Contact.objects.exists()


def test_it_rejects_an_unknown_template(client, sms_channel):
    assert field_error(client.post(send_url(sms_channel), template_request({"name": "nope"}), format="json"), "template.name")


def test_it_rejects_an_unknown_template_version(client, sms_channel, workspace):
    make_template(workspace)
    resp = client.post(send_url(sms_channel), template_request({"name": "welcome", "version": 7}), format="json")
    assert field_error(resp, "template.version")


def test_it_picks_the_template_locale(client, sms_channel, workspace):
    make_template(workspace, locale="en")
    Template.objects.create(workspace=workspace, name="welcome", locale="de", content={"sms": {"text": "Hallo {{name}}"}})
    ref = {"name": "welcome", "locale": "de", "parameters": params(name="Ann")}
    resp = client.post(send_url(sms_channel), template_request(ref), format="json")
    assert resp.status_code == 202, resp.content
    assert resp.json()["body"]["text"]["text"] == "Hallo Ann"


def test_it_does_not_treat_template_text_as_code(client, sms_channel, workspace):
    Template.objects.create(workspace=workspace, name="raw", content={"sms": {"text": "{% now 'Y' %} {{name}} {{ name|upper }}"}})
    resp = client.post(send_url(sms_channel), template_request({"name": "raw", "parameters": params(name="Ann")}), format="json")
    # `name|upper` is not a variable name, so it stays as written; nothing is evaluated.
    assert resp.status_code == 202, resp.content
    assert resp.json()["body"]["text"]["text"] == "{% now 'Y' %} Ann {{ name|upper }}"


# --- tags, schedule, validity, flags ---------------------------------------------------------------


def test_it_lowercases_tags_and_creates_them_on_first_use(client, sms_channel, workspace):
    Tag.objects.create(workspace=workspace, name="vip")
    resp = client.post(send_url(sms_channel), sms(tags=["VIP", "Promo", "promo"]), format="json")
    assert resp.status_code == 202, resp.content
    assert resp.json()["tags"] == ["promo", "vip"]
    assert sorted(Tag.objects.filter(workspace=workspace).values_list("name", flat=True)) == ["promo", "vip"]


def test_it_rejects_more_than_10_tags(client, sms_channel):
    resp = client.post(send_url(sms_channel), sms(tags=[f"t{i}" for i in range(11)]), format="json")
    assert field_error(resp, "tags")
    assert not Tag.objects.exists()


def test_it_schedules_a_message_in_the_future(client, sms_channel):
    when = (timezone.now() + timedelta(days=2)).replace(microsecond=0)
    resp = client.post(send_url(sms_channel), sms(scheduledFor=when.isoformat().replace("+00:00", "Z"), validity=600), format="json")
    assert resp.status_code == 202, resp.content
    assert resp.json()["status"] == "scheduled"
    message = Message.objects.get()
    assert message.scheduled_for == when
    assert message.due_at == when
    assert message.expires_at == when + timedelta(seconds=600)
    assert MessageEvent.objects.get(message=message).status == "scheduled"


def test_it_sends_a_message_scheduled_in_the_past_now(client, sms_channel):
    resp = client.post(send_url(sms_channel), sms(scheduledFor="2020-01-01T00:00:00+02:00"), format="json")
    assert resp.status_code == 202, resp.content
    assert resp.json()["status"] == "accepted"
    assert resp.json()["scheduledFor"] is None


def test_it_rejects_a_schedule_more_than_35_days_ahead(client, sms_channel):
    when = (timezone.now() + timedelta(days=36)).isoformat()
    assert field_error(client.post(send_url(sms_channel), sms(scheduledFor=when), format="json"), "scheduledFor")
    assert not Message.objects.exists()


@pytest.mark.parametrize("value", ["tomorrow", "2030-01-01", "2030-01-01T10:00:00"])
def test_it_rejects_a_schedule_that_is_not_rfc3339(client, sms_channel, value):
    assert field_error(client.post(send_url(sms_channel), sms(scheduledFor=value), format="json"), "scheduledFor")


def test_it_uses_ten_minutes_validity_on_a_2fa_channel(client, workspace):
    channel = factories.create_channel(workspace, "sms", "sandbox", message_type="2fa")
    resp = client.post(send_url(channel), sms(), format="json")
    assert resp.json()["validity"] == 600


def test_it_rejects_a_validity_that_is_not_positive(client, sms_channel):
    assert field_error(client.post(send_url(sms_channel), sms(validity=0), format="json"), "validity")


def test_it_rejects_cap_frequency_without_the_marketing_use_case(client, sms_channel):
    resp = client.post(send_url(sms_channel), sms(capFrequency=True), format="json")
    assert "marketing" in field_error(resp, "capFrequency")[0]


def test_it_accepts_cap_frequency_for_marketing(client, sms_channel):
    resp = client.post(
        send_url(sms_channel), sms(capFrequency=True, meta={"extraInformation": {"useCase": "marketing"}}), format="json"
    )
    assert resp.status_code == 202, resp.content
    message = Message.objects.get()
    assert message.cap_frequency is True
    assert message.use_case == "marketing"
    assert resp.json()["meta"] == {"extraInformation": {"useCase": "marketing"}}


def test_it_rejects_a_reference_over_200_characters(client, sms_channel):
    assert field_error(client.post(send_url(sms_channel), sms(reference="x" * 201), format="json"), "reference")


def test_it_stores_the_delivery_options(client, sms_channel):
    data = sms(
        shortLinks={"enabled": True, "domain": "sho.rt"},
        enableLinkTracking=True,
        ignoreQuietHours=True,
        ignoreGlobalHoldout=True,
        priority=1,
        sender={"connectionIdentifier": "main"},
    )
    resp = client.post(send_url(sms_channel), data, format="json")
    assert resp.status_code == 202, resp.content
    assert resp.json()["shortLinks"] == {"enabled": True, "domain": "sho.rt"}
    assert resp.json()["sender"] == {"connectionIdentifier": "main"}
    message = Message.objects.get()
    assert (message.enable_link_tracking, message.ignore_quiet_hours, message.ignore_global_holdout) == (True, True, True)
    assert message.priority == 1


def test_it_refuses_an_inactive_channel(client, workspace):
    channel = factories.create_channel(workspace, "sms", "sandbox", status="inactive")
    resp = client.post(send_url(channel), sms(), format="json")
    assert resp.status_code == 409
    assert resp.json()["code"] == "ChannelInactive"
    assert not Message.objects.exists()


# --- auth and scoping ------------------------------------------------------------------------------


def test_it_needs_an_access_key(api, sms_channel):
    resp = api.key(None).post(send_url(sms_channel), sms(), format="json")
    assert resp.status_code == 401
    assert resp.json()["code"] == "Unauthorized"


def test_a_viewer_cannot_send(api, viewer_key, sms_channel):
    resp = api.key(viewer_key).post(send_url(sms_channel), sms(), format="json")
    assert resp.status_code == 403
    assert not Message.objects.exists()


def test_a_key_of_another_workspace_gets_404_and_creates_nothing(api, foreign_key, sms_channel):
    resp = api.key(foreign_key).post(send_url(sms_channel), sms(), format="json")
    assert resp.status_code == 404
    assert not Message.objects.exists()
    assert not Contact.objects.exists()


def test_a_channel_of_another_workspace_is_404(client, workspace, other_workspace):
    foreign_channel = factories.create_channel(other_workspace, "sms", "sandbox")
    resp = client.post(f"/workspaces/{workspace.id}/channels/{foreign_channel.id}/messages", sms(), format="json")
    assert resp.status_code == 404
    assert not Message.objects.exists()


# --- batch -------------------------------------------------------------------------------------------


def test_it_accepts_a_batch(client, sms_channel, workspace):
    requests = [sms(f"n{i}", to=f"+1201555012{i}", tags=["batch"]) for i in range(5)]
    resp = client.post(batch_url(sms_channel), {"messageRequests": requests}, format="json")
    assert resp.status_code == 202, resp.content
    results = resp.json()["results"]
    assert [r["body"]["text"]["text"] for r in results] == [f"n{i}" for i in range(5)]
    assert all(r["tags"] == ["batch"] for r in results)
    assert Message.objects.count() == 5
    assert MessageEvent.objects.filter(status="accepted").count() == 5
    assert Tag.objects.filter(workspace=workspace).count() == 1


def test_a_batch_to_one_new_identifier_creates_one_contact(client, sms_channel, workspace):
    resp = client.post(batch_url(sms_channel), {"messageRequests": [sms("a"), sms("b")]}, format="json")
    assert resp.status_code == 202
    assert Contact.objects.filter(workspace=workspace).count() == 1


def test_a_batch_error_names_the_request_and_creates_nothing(client, sms_channel):
    requests = [sms(f"n{i}", to=f"+1201555012{i}") for i in range(4)]
    requests[3]["body"] = {"type": "html", "html": {"html": "x", "metadata": {"subject": "s"}}}
    resp = client.post(batch_url(sms_channel), {"messageRequests": requests}, format="json")
    assert field_error(resp, "messageRequests[3].body.type")
    assert not Message.objects.exists()
    assert not Contact.objects.exists()


def test_a_batch_shape_error_names_the_request(client, sms_channel):
    requests = [sms(), sms(), sms(), {"receiver": sms()["receiver"]}]
    assert field_error(client.post(batch_url(sms_channel), {"messageRequests": requests}, format="json"), "messageRequests[3].body")


def test_a_batch_is_capped_at_100(client, sms_channel):
    resp = client.post(batch_url(sms_channel), {"messageRequests": [sms()] * 101}, format="json")
    assert field_error(resp, "messageRequests")
    assert not Message.objects.exists()


# --- the service used by the other dialects ---------------------------------------------------------


def test_send_text_sends_to_an_identifier_with_model_fields(sms_channel):
    original = factories.create_message(sms_channel)
    message = send.send_text(sms_channel, "phonenumber", PHONE, "Reply", actor="bot", reply_to=original, notify_url="https://example.com/n")
    message.refresh_from_db()
    assert (message.text, message.reply_to_id, message.notify_url) == ("Reply", original.id, "https://example.com/n")
    assert message.receiver["contacts"][0]["identifierValue"] == PHONE
    assert MessageEvent.objects.get(message=message).actor == "bot"


def test_accept_message_refuses_fields_that_are_not_allowed(sms_channel):
    with pytest.raises(TypeError):
        send.accept_message(sms_channel.workspace, sms_channel, sms(), status="delivered")


def test_accept_batch_takes_many_receivers_without_the_http_cap(sms_channel):
    requests = [sms(to=f"+120155{i:05d}") for i in range(150)]
    messages = send.accept_batch(sms_channel.workspace, sms_channel, requests, actor="test", transid="t-1")
    assert len(messages) == 150
    assert Message.objects.filter(transid="t-1").count() == 150


# --- checks before the write transaction -----------------------------------------------------


@pytest.mark.django_db(transaction=True)  # the foreign key is checked at a real commit
def test_a_receiver_contact_deleted_during_the_checks_is_created_again(client, sms_channel, workspace, monkeypatch):
    """The checks (and the lookup of existing contacts) run before the write transaction;
    a contact deleted in between makes the insert fail on its foreign key, and the send
    is checked again rather than answered with a 500."""
    contact = factories.create_contact(workspace, phone=PHONE)
    original = send.smartlinks.prepare_canonical
    deleted = []

    def delete_the_contact_first(*args, **kwargs):
        if not deleted:
            Contact.objects.filter(id=contact.id).delete()  # what a concurrent DELETE would do
            deleted.append(True)
        return original(*args, **kwargs)

    monkeypatch.setattr(send.smartlinks, "prepare_canonical", delete_the_contact_first)
    resp = client.post(send_url(sms_channel), sms(), format="json")
    assert resp.status_code == 202, resp.content
    new_contact = Contact.objects.get(workspace=workspace)
    assert new_contact.id != contact.id
    assert resp.json()["receiver"]["contacts"][0]["id"] == str(new_contact.id)
    assert Message.objects.get().contact_id == new_contact.id


def test_new_receivers_get_their_contacts_inside_the_transaction(client, email_channel, workspace):
    """Two new email receivers and one known: the new ones are created with the message,
    the same address twice is one receiver."""
    known = factories.create_contact(workspace, email="known@example.com")
    receivers = [
        {"identifierKey": "emailaddress", "identifierValue": "new@example.com"},
        {"identifierKey": "emailaddress", "identifierValue": "known@example.com"},
        {"identifierKey": "emailaddress", "identifierValue": "NEW@example.com"},
        {"identifierKey": "emailaddress", "identifierValue": "other@example.com"},
    ]
    data = {
        "receiver": {"contacts": receivers},
        "body": {"type": "text", "text": {"text": "Hi", "metadata": {"subject": "Hello"}}},
    }
    resp = client.post(send_url(email_channel), data, format="json")
    assert resp.status_code == 202, resp.content
    stored = resp.json()["receiver"]["contacts"]
    assert [c["identifierValue"] for c in stored] == ["new@example.com", "known@example.com", "other@example.com"]
    owners = dict(ContactIdentifier.objects.filter(workspace=workspace).values_list("value", "contact_id"))
    assert [c["id"] for c in stored] == [str(owners[c["identifierValue"]]) for c in stored]
    assert stored[1]["id"] == str(known.id)
    message = Message.objects.get()
    assert message.contact_id == owners["new@example.com"]
    assert {c.id for c in message.contacts.all()} == set(owners.values())
