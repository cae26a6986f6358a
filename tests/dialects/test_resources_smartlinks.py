"""Canonical API: /workspaces/{w}/smartlinks and their clicks (SPEC §3.1)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from messaging.models import LinkClick, ShortLink, SmartLink
from tests import factories

pytestmark = pytest.mark.django_db


def url(workspace, pk=None, tail="") -> str:
    base = f"/workspaces/{workspace.id}/smartlinks"
    return (f"{base}/{pk}" if pk else base) + tail


def test_it_assigns_linkids_from_the_highest_plus_one(api, workspace, other_workspace, admin_key):
    SmartLink.objects.create(workspace=other_workspace, linkid=500, url="https://other.example")
    client = api.key(admin_key)
    first = client.post(url(workspace), {"url": "https://example.com/a"}, format="json")
    assert first.status_code == 201, first.content
    assert first.json()["linkid"] == 1
    assert first.json()["validity"] == 1440
    assert first.json()["active"] is True
    assert first.json()["clicks"] == 0
    chosen = client.post(url(workspace), {"url": "https://example.com/b", "linkid": 40}, format="json")
    assert chosen.json()["linkid"] == 40
    nxt = client.post(url(workspace), {"url": "https://example.com/c"}, format="json")
    assert nxt.json()["linkid"] == 41


def test_a_linkid_is_unique_per_workspace(api, workspace, admin_key):
    client = api.key(admin_key)
    client.post(url(workspace), {"url": "https://example.com/a", "linkid": 7}, format="json")
    other = client.post(url(workspace), {"url": "https://example.com/b"}, format="json").json()
    resp = client.post(url(workspace), {"url": "https://example.com/c", "linkid": 7}, format="json")
    assert resp.status_code == 409
    assert "linkid" in resp.json()["details"]
    resp = client.patch(url(workspace, other["id"]), {"linkid": 7}, format="json")
    assert resp.status_code == 409
    assert SmartLink.objects.get(pk=other["id"]).linkid == 8


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "url"),
        ({"url": "ftp://example.com/f"}, "url"),
        ({"url": "javascript:alert(1)"}, "url"),
        ({"url": "https://example.com", "validity": 0}, "validity"),
        ({"url": "https://example.com", "linkid": 0}, "linkid"),
        ({"url": "https://example.com", "linkid": "seven"}, "linkid"),
        ({"url": "https://example.com", "clicks": 5}, "clicks"),
        ({"url": "https://example.com", "target": "x"}, "target"),
    ],
)
def test_it_rejects_bad_input_naming_the_field(api, workspace, admin_key, body, field):
    resp = api.key(admin_key).post(url(workspace), body, format="json")
    assert resp.status_code == 422, resp.content
    assert field in resp.json()["details"]
    assert SmartLink.objects.count() == 0


def test_it_gets_patches_filters_and_deletes(api, workspace, admin_key):
    client = api.key(admin_key)
    link = client.post(url(workspace), {"url": "https://example.com/a", "validity": 60}, format="json").json()
    resp = client.patch(
        url(workspace, link["id"]), {"active": False, "url": "https://example.com/b"}, format="json"
    )
    assert resp.status_code == 200
    assert (resp.json()["active"], resp.json()["url"], resp.json()["validity"]) == (
        False,
        "https://example.com/b",
        60,
    )
    assert client.get(url(workspace), {"linkid": link["linkid"]}).json()["results"][0]["id"] == link["id"]
    assert client.get(url(workspace), {"linkid": "x"}).status_code == 422
    assert client.delete(url(workspace, link["id"])).status_code == 204
    assert client.get(url(workspace, link["id"])).status_code == 404


def make_click(workspace, smartlink, code, at, agent="agent", **link):
    short = ShortLink.objects.filter(code=code).first() or ShortLink.objects.create(
        code=code,
        workspace=workspace,
        smartlink=smartlink,
        url=smartlink.url,
        expires_at=timezone.now() + timedelta(days=1),
        **link,
    )
    return LinkClick.objects.create(short_link=short, at=at, user_agent=agent, ip="203.0.113.9")


def test_it_lists_clicks_newest_first_and_counts_them(api, workspace, admin_key, sms_channel):
    contact = factories.create_contact(workspace, phone="+12015550123")
    message = factories.create_message(sms_channel, contact)
    link = SmartLink.objects.create(workspace=workspace, linkid=1, url="https://example.com")
    other = SmartLink.objects.create(workspace=workspace, linkid=2, url="https://example.org")
    start = timezone.now().replace(microsecond=0)
    for i in range(3):
        make_click(
            workspace,
            link,
            "abc",
            start + timedelta(seconds=i),
            f"agent {i}",
            message=message,
            contact=contact,
        )
    make_click(workspace, other, "zzz", start)
    client = api.key(admin_key)
    assert client.get(url(workspace, link.id)).json()["clicks"] == 3
    page = client.get(url(workspace, link.id, "/clicks"), {"limit": 2}).json()
    assert [c["userAgent"] for c in page["results"]] == ["agent 2", "agent 1"]
    assert page["results"][0]["code"] == "abc"
    assert page["results"][0]["messageId"] == str(message.id)
    assert page["results"][0]["contactId"] == str(contact.id)
    rest = client.get(
        url(workspace, link.id, "/clicks"), {"limit": 2, "pageToken": page["nextPageToken"]}
    ).json()
    assert [c["userAgent"] for c in rest["results"]] == ["agent 0"]
    assert "nextPageToken" not in rest


def test_another_workspaces_smartlink_and_clicks_are_not_found(api, workspace, other_workspace, admin_key):
    foreign = SmartLink.objects.create(workspace=other_workspace, linkid=1, url="https://example.com")
    make_click(other_workspace, foreign, "fff", timezone.now())
    client = api.key(admin_key)
    assert client.get(url(workspace, foreign.id)).status_code == 404
    assert client.get(url(workspace, foreign.id, "/clicks")).status_code == 404
    assert client.patch(url(workspace, foreign.id), {"active": False}, format="json").status_code == 404
    foreign.refresh_from_db()
    assert foreign.active is True


def test_a_list_page_costs_the_same_queries_however_many_links(api, workspace, admin_key):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = api.key(admin_key)

    def queries_for_list() -> int:
        with CaptureQueriesContext(connection) as ctx:
            body = client.get(url(workspace)).json()
        assert all(row["clicks"] == 1 for row in body["results"])
        return len(ctx)

    first = SmartLink.objects.create(workspace=workspace, linkid=1, url="https://example.com")
    make_click(workspace, first, "c1", timezone.now())
    queries_for_list()  # the key's first use also records last_used_at
    few = queries_for_list()
    for i in range(2, 7):
        link = SmartLink.objects.create(workspace=workspace, linkid=i, url="https://example.com")
        make_click(workspace, link, f"c{i}", timezone.now())
    assert queries_for_list() == few
