"""Canonical API: /workspaces/{w}/templates (SPEC §3.1)."""

import pytest

from messaging.models import Template, TemplateVersion

pytestmark = pytest.mark.django_db

SMS = {"sms": {"text": "Hi {{name}}, your code is {{ code }}. Bye {{name}}"}}


def url(workspace, pk=None) -> str:
    base = f"/workspaces/{workspace.id}/templates"
    return f"{base}/{pk}" if pk else base


def create(client, workspace, **body):
    body = {"name": "welcome", "content": SMS, **body}
    return client.post(url(workspace), body, format="json")


def test_it_creates_version_1_with_its_variables(api, workspace, admin_key):
    resp = create(api.key(admin_key), workspace)
    assert resp.status_code == 201, resp.content
    body = resp.json()
    assert body["version"] == 1
    assert body["locale"] == "en"
    assert body["content"] == SMS
    assert body["variables"] == ["name", "code"]
    template = Template.objects.get(pk=body["id"])
    assert list(template.versions.values_list("version", "content")) == [(1, SMS)]


def test_every_change_adds_a_version_and_keeps_the_old_one(api, workspace, admin_key):
    client = api.key(admin_key)
    template_id = create(client, workspace).json()["id"]
    email = {"email": {"subject": "Hello {{name}}", "text": "t", "html": "<p>{{name}}</p>"}}
    resp = client.patch(url(workspace, template_id), {"content": email}, format="json")
    assert resp.status_code == 200, resp.content
    assert resp.json()["version"] == 2
    assert resp.json()["variables"] == ["name"]
    resp = client.patch(url(workspace, template_id), {"name": "welcome-2"}, format="json")
    assert resp.json()["version"] == 3
    # The same values again are no change: no new version.
    resp = client.patch(url(workspace, template_id), {"name": "welcome-2", "content": email}, format="json")
    assert resp.json()["version"] == 3
    versions = dict(TemplateVersion.objects.filter(template_id=template_id).values_list("version", "content"))
    assert versions == {1: SMS, 2: email, 3: email}
    assert client.get(url(workspace, template_id)).json()["version"] == 3


def test_name_and_locale_are_unique_together(api, workspace, admin_key):
    client = api.key(admin_key)
    assert create(client, workspace).status_code == 201
    resp = create(client, workspace)
    assert resp.status_code == 409
    assert "name" in resp.json()["details"]
    french = create(client, workspace, locale="fr")
    assert french.status_code == 201
    resp = client.patch(url(workspace, french.json()["id"]), {"locale": "en"}, format="json")
    assert resp.status_code == 409
    assert Template.objects.get(pk=french.json()["id"]).locale == "fr"


@pytest.mark.parametrize(
    "content, field",
    [
        ("Hi", "content"),
        ({}, "content"),
        ({"fax": {"text": "x"}}, "content.fax"),
        ({"sms": "Hi"}, "content.sms"),
        ({"sms": {}}, "content.sms"),
        ({"sms": {"text": 5}}, "content.sms.text"),
        ({"email": {"subject": ["a"]}}, "content.email.subject"),
    ],
)
def test_it_rejects_bad_content_naming_the_field(api, workspace, admin_key, content, field):
    resp = create(api.key(admin_key), workspace, content=content)
    assert resp.status_code == 422, resp.content
    assert field in resp.json()["details"], resp.json()
    assert Template.objects.count() == 0


def test_it_rejects_read_only_and_unknown_fields(api, workspace, admin_key):
    client = api.key(admin_key)
    assert "version" in create(client, workspace, version=7).json()["details"]
    assert "contents" in create(client, workspace, contents={}).json()["details"]
    template_id = create(client, workspace).json()["id"]
    resp = client.patch(url(workspace, template_id), {"variables": ["x"]}, format="json")
    assert resp.status_code == 422
    assert "variables" in resp.json()["details"]
    assert Template.objects.get(pk=template_id).version == 1


def test_it_lists_filters_and_deletes(api, workspace, other_workspace, admin_key):
    client = api.key(admin_key)
    keep = create(client, workspace, locale="fr").json()["id"]
    gone = create(client, workspace).json()["id"]
    Template.objects.create(workspace=other_workspace, name="welcome", content=SMS)
    assert len(client.get(url(workspace)).json()["results"]) == 2
    assert [t["id"] for t in client.get(url(workspace), {"locale": "fr"}).json()["results"]] == [keep]
    assert client.delete(url(workspace, gone)).status_code == 204
    assert not TemplateVersion.objects.filter(template_id=gone).exists()
    assert [t["id"] for t in client.get(url(workspace)).json()["results"]] == [keep]


def test_another_workspaces_template_is_not_found(api, workspace, other_workspace, admin_key):
    foreign = Template.objects.create(workspace=other_workspace, name="theirs", content=SMS)
    client = api.key(admin_key)
    assert client.get(url(workspace, foreign.id)).status_code == 404
    resp = client.patch(url(workspace, foreign.id), {"name": "mine"}, format="json")
    assert resp.status_code == 404
    foreign.refresh_from_db()
    assert (foreign.name, foreign.version) == ("theirs", 1)
