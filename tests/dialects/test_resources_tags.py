"""Canonical API: /workspaces/{w}/tags (SPEC §3.1)."""

import pytest

from messaging.models import Tag
from tests import factories

pytestmark = pytest.mark.django_db


def url(workspace, pk=None) -> str:
    base = f"/workspaces/{workspace.id}/tags"
    return f"{base}/{pk}" if pk else base


def test_it_creates_a_tag_lower_cased(api, workspace, admin_key):
    resp = api.key(admin_key).post(url(workspace), {"name": "  Spring-Sale "}, format="json")
    assert resp.status_code == 201, resp.content
    assert resp.json()["name"] == "spring-sale"
    assert Tag.objects.get(pk=resp.json()["id"]).workspace == workspace


def test_a_tag_name_is_unique_per_workspace_ignoring_case(api, workspace, other_workspace, admin_key):
    Tag.objects.create(workspace=workspace, name="vip")
    Tag.objects.create(workspace=other_workspace, name="news")
    client = api.key(admin_key)
    resp = client.post(url(workspace), {"name": "VIP"}, format="json")
    assert resp.status_code == 409
    assert "name" in resp.json()["details"]
    assert client.post(url(workspace), {"name": "news"}, format="json").status_code == 201
    assert Tag.objects.filter(workspace=workspace).count() == 2


def test_it_lists_gets_renames_and_deletes(api, workspace, admin_key, sms_channel):
    tag = Tag.objects.create(workspace=workspace, name="old")
    Tag.objects.create(workspace=workspace, name="taken")
    message = factories.create_message(sms_channel)
    message.tags.add(tag)
    client = api.key(admin_key)
    assert {t["name"] for t in client.get(url(workspace)).json()["results"]} == {"old", "taken"}
    assert client.get(url(workspace), {"name": "OLD"}).json()["results"][0]["id"] == tag.id
    assert client.get(url(workspace, tag.id)).json()["name"] == "old"
    assert client.patch(url(workspace, tag.id), {"name": "Taken"}, format="json").status_code == 409
    resp = client.patch(url(workspace, tag.id), {"name": "New"}, format="json")
    assert resp.status_code == 200
    assert resp.json()["name"] == "new"
    assert client.delete(url(workspace, tag.id)).status_code == 204
    assert not Tag.objects.filter(pk=tag.pk).exists()
    assert message.tags.count() == 0
    assert client.get(url(workspace, tag.id)).status_code == 404


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": 3}, "name"),
        ({"name": "a", "label": "b"}, "label"),
    ],
)
def test_it_rejects_bad_input_naming_the_field(api, workspace, admin_key, body, field):
    resp = api.key(admin_key).post(url(workspace), body, format="json")
    assert resp.status_code == 422
    assert field in resp.json()["details"]
    assert Tag.objects.count() == 0


def test_another_workspaces_tag_is_not_found(api, workspace, other_workspace, admin_key):
    foreign = Tag.objects.create(workspace=other_workspace, name="theirs")
    client = api.key(admin_key)
    assert client.get(url(workspace, foreign.id)).status_code == 404
    assert client.delete(url(workspace, foreign.id)).status_code == 404
    assert Tag.objects.filter(pk=foreign.pk).exists()
