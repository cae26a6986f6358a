"""GET .../channels/{ch}/messages, GET /workspaces/{ws}/messages and GET one message."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from messaging.models import Message, Tag
from tests import factories


def channel_url(channel) -> str:
    return f"/workspaces/{channel.workspace_id}/channels/{channel.id}/messages"


def workspace_url(workspace) -> str:
    return f"/workspaces/{workspace.id}/messages"


@pytest.fixture
def client(api, viewer_key):
    return api.key(viewer_key)


def walk(client, url: str, params: dict | None = None, between_pages=None) -> list[str]:
    """Every id of every page, calling `between_pages()` after each page."""
    ids: list[str] = []
    query = dict(params or {})
    while True:
        resp = client.get(url, query)
        assert resp.status_code == 200, resp.content
        body = resp.json()
        ids += [row["id"] for row in body["results"]]
        if "nextPageToken" not in body:
            return ids
        query["pageToken"] = body["nextPageToken"]
        if between_pages:
            between_pages()


def test_it_lists_a_channels_messages_newest_first(client, sms_channel, email_channel):
    base = timezone.now()
    older = factories.create_message(sms_channel, created_at=base - timedelta(minutes=2))
    newer = factories.create_message(sms_channel, created_at=base - timedelta(minutes=1))
    factories.create_message(email_channel)
    body = client.get(channel_url(sms_channel)).json()
    assert [row["id"] for row in body["results"]] == [str(newer.id), str(older.id)]
    assert "nextPageToken" not in body


def test_the_workspace_list_covers_every_channel_but_no_other_workspace(client, workspace, sms_channel, email_channel, other_workspace):
    mine = {str(factories.create_message(sms_channel).id), str(factories.create_message(email_channel).id)}
    factories.create_message(factories.create_channel(other_workspace))
    assert set(walk(client, workspace_url(workspace))) == mine


def test_pages_have_no_repeat_or_gap_while_messages_arrive(client, sms_channel):
    base = timezone.now() - timedelta(hours=1)
    # Several rows share a created_at so the id tie-break is exercised too.
    existing = [factories.create_message(sms_channel, created_at=base + timedelta(seconds=i // 3)) for i in range(23)]
    arrivals = []

    def insert_new():
        arrivals.append(factories.create_message(sms_channel))

    ids = walk(client, channel_url(sms_channel), {"limit": 5}, between_pages=insert_new)
    assert len(arrivals) == 4  # 23 rows in pages of 5: four page turns
    assert len(ids) == len(set(ids)) == 23
    assert set(ids) == {str(m.id) for m in existing}


def test_the_limit_is_capped(client, sms_channel, settings):
    settings.API_PAGE_LIMIT_MAX = 3
    for _ in range(5):
        factories.create_message(sms_channel)
    body = client.get(channel_url(sms_channel), {"limit": 1000}).json()
    assert len(body["results"]) == 3
    assert "nextPageToken" in body


@pytest.mark.parametrize("params,field", [({"pageToken": "forged"}, "pageToken"), ({"limit": "x"}, "limit")])
def test_it_rejects_bad_paging_parameters(client, sms_channel, params, field):
    resp = client.get(channel_url(sms_channel), params)
    assert resp.status_code == 422
    assert field in resp.json()["details"]


def test_it_filters_by_status_direction_and_reference(client, sms_channel):
    sent = factories.create_message(sms_channel, status="sent", reference="r-1")
    factories.create_message(sms_channel, status="accepted", reference="r-2")
    incoming = factories.create_message(sms_channel, direction="incoming", status="delivered")
    url = channel_url(sms_channel)
    assert walk(client, url, {"status": "sent"}) == [str(sent.id)]
    assert set(walk(client, url, {"status": "sent,delivered"})) == {str(sent.id), str(incoming.id)}
    assert walk(client, url, {"direction": "incoming"}) == [str(incoming.id)]
    assert walk(client, url, {"reference": "r-1"}) == [str(sent.id)]


def test_it_filters_by_tag_and_contact(client, workspace, sms_channel):
    ann = factories.create_contact(workspace, phone="+12015550123")
    tagged = factories.create_message(sms_channel, contact=ann)
    tagged.tags.add(Tag.objects.create(workspace=workspace, name="promo"))
    factories.create_message(sms_channel)
    assert walk(client, workspace_url(workspace), {"tag": "PROMO"}) == [str(tagged.id)]
    assert walk(client, workspace_url(workspace), {"contact": str(ann.id)}) == [str(tagged.id)]


def test_it_filters_by_time_range(client, workspace, sms_channel):
    base = timezone.now().replace(microsecond=0)
    factories.create_message(sms_channel, created_at=base - timedelta(days=3))
    middle = factories.create_message(sms_channel, created_at=base - timedelta(days=2))
    factories.create_message(sms_channel, created_at=base - timedelta(days=1))
    params = {
        "from": (base - timedelta(days=2)).isoformat(),
        "to": (base - timedelta(days=1)).isoformat().replace("+00:00", "Z"),
    }
    assert walk(client, workspace_url(workspace), params) == [str(middle.id)]


@pytest.mark.parametrize(
    "params,field",
    [
        ({"status": "bogus"}, "status"),
        ({"direction": "sideways"}, "direction"),
        ({"contact": "nope"}, "contact"),
        ({"from": "yesterday"}, "from"),
        ({"to": "2030-01-01"}, "to"),
    ],
)
def test_it_rejects_bad_filters_naming_them(client, workspace, params, field):
    resp = client.get(workspace_url(workspace), params)
    assert resp.status_code == 422
    assert field in resp.json()["details"]


def test_a_page_costs_the_same_queries_however_many_rows(client, workspace, sms_channel):
    def queries_for_page() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(workspace_url(workspace), {"limit": 50}).status_code == 200
        return len(ctx.captured_queries)

    tag = Tag.objects.create(workspace=workspace, name="t")
    factories.create_message(sms_channel).tags.add(tag)
    queries_for_page()  # the first request of a key also records when the key was used
    few = queries_for_page()
    for _ in range(20):
        factories.create_message(sms_channel).tags.add(tag)
    assert queries_for_page() == few


def _plan(sql: str, params) -> str:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Tiny test tables make a sequential scan look cheapest; forbid it (and sorting)
            # so the plan shows whether an index can serve this page query at all.
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("SET LOCAL enable_sort = off")
            cursor.execute("EXPLAIN " + sql, params)
        else:
            cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
        return " ".join(str(part) for row in cursor.fetchall() for part in row)


@pytest.mark.parametrize("scope,index", [("workspace", "message_ws_page"), ("channel", "message_channel_page")])
def test_the_page_query_uses_the_page_index(client, workspace, sms_channel, scope, index):
    for _ in range(3):
        factories.create_message(sms_channel)
    first = client.get(workspace_url(workspace) if scope == "workspace" else channel_url(sms_channel), {"limit": 1}).json()
    url = workspace_url(workspace) if scope == "workspace" else channel_url(sms_channel)
    with CaptureQueriesContext(connection) as ctx:
        client.get(url, {"limit": 1, "pageToken": first["nextPageToken"]})
    page_sql = next(q["sql"] for q in ctx.captured_queries if 'FROM "messaging_message"' in q["sql"] and "LIMIT" in q["sql"])
    # Re-run the captured statement (with its literal values) through the planner.
    assert index in _plan(page_sql, None)


def test_it_gets_one_message(client, sms_channel):
    message = factories.create_message(sms_channel, reference="ref-9", status="delivered")
    resp = client.get(f"{channel_url(sms_channel)}/{message.id}")
    assert resp.status_code == 200
    assert resp.json()["id"] == str(message.id)
    assert resp.json()["reference"] == "ref-9"
    assert resp.json()["status"] == "delivered"


def test_a_message_of_another_workspace_or_channel_is_404(client, sms_channel, email_channel, other_workspace):
    foreign = factories.create_message(factories.create_channel(other_workspace))
    other_channel_msg = factories.create_message(email_channel)
    assert client.get(f"{channel_url(sms_channel)}/{foreign.id}").status_code == 404
    assert client.get(f"{channel_url(sms_channel)}/{other_channel_msg.id}").status_code == 404


def test_lists_need_a_key_and_hide_other_workspaces(api, foreign_key, workspace, sms_channel):
    factories.create_message(sms_channel)
    assert api.key(None).get(workspace_url(workspace)).status_code == 401
    resp = api.key(foreign_key).get(workspace_url(workspace))
    assert resp.status_code == 404
    assert api.key(foreign_key).get(channel_url(sms_channel)).status_code == 404
    assert Message.objects.count() == 1


def test_the_schema_documents_the_messages_and_upload_endpoints(api, db):
    resp = api.get("/api/schema/", {"format": "json"})
    assert resp.status_code == 200
    paths = resp.json()["paths"]
    channel_messages = "/workspaces/{workspace_id}/channels/{channel_id}/messages"
    assert paths[channel_messages]["post"]["operationId"] == "channel_messages_send"
    assert paths[channel_messages]["post"]["summary"] == "Send a message"
    assert "202" in paths[channel_messages]["post"]["responses"]
    assert paths[channel_messages]["get"]["operationId"] == "channel_messages_list"
    for path in (
        "/workspaces/{workspace_id}/channels/{channel_id}/batch/messages",
        "/workspaces/{workspace_id}/channels/{channel_id}/messages/{message_id}",
        "/workspaces/{workspace_id}/channels/{channel_id}/messages/{message_id}/cancel",
        "/workspaces/{workspace_id}/messages",
        "/workspaces/{workspace_id}/presigned-upload",
        "/workspaces/{workspace_id}/channels/{channel_id}/presigned-upload",
    ):
        assert path in paths
