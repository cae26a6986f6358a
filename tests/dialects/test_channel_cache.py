"""The send path keeps each channel it sends on per process (services/channels.py) and
reads it again when the workspace's channels_version says channels changed: whatever a
person does to a channel — through the API, the admin's save, pause/resume, deletion —
the very next send sees it, and an unchanged channel costs no query."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from messaging.models import Channel, Message, Workspace
from messaging.services import channels, dispatch
from tests import factories

pytestmark = pytest.mark.django_db

PHONE = "+12015550123"


def send(api, sender_key, channel):
    return api.key(sender_key).post(
        f"/workspaces/{channel.workspace_id}/channels/{channel.id}/messages",
        {
            "receiver": {"contacts": [{"identifierKey": "phonenumber", "identifierValue": PHONE}]},
            "body": {"type": "text", "text": {"text": "hi"}},
        },
        format="json",
    )


def channel_queries(queries) -> list[str]:
    table = Channel._meta.db_table
    return [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith("SELECT") and f'FROM "{table}"' in q["sql"]]


def test_deactivating_a_channel_through_the_api_refuses_the_next_send(api, admin_key, sender_key, sms_channel):
    assert send(api, sender_key, sms_channel).status_code == 202  # the channel is now kept
    resp = api.key(admin_key).patch(
        f"/workspaces/{sms_channel.workspace_id}/channels/{sms_channel.id}", {"status": "inactive"}, format="json"
    )
    assert resp.status_code == 200, resp.content
    refused = send(api, sender_key, sms_channel)
    assert refused.status_code == 409
    assert refused.json()["code"] == "ChannelInactive"
    assert Message.objects.count() == 1


def test_a_deleted_channel_is_not_found_by_the_next_send(api, admin_key, sender_key, sms_channel):
    assert send(api, sender_key, sms_channel).status_code == 202
    Message.objects.all().delete()  # a channel with messages cannot be deleted
    resp = api.key(admin_key).delete(f"/workspaces/{sms_channel.workspace_id}/channels/{sms_channel.id}")
    assert resp.status_code == 204, resp.content
    assert send(api, sender_key, sms_channel).status_code == 404


def test_a_change_saved_anywhere_else_is_seen_by_the_next_send(api, sender_key, sms_channel):
    assert send(api, sender_key, sms_channel).status_code == 202
    stored = Channel.objects.get(pk=sms_channel.pk)  # as the admin or a command would save it
    stored.status = "inactive"
    stored.save()
    assert send(api, sender_key, sms_channel).status_code == 409


def test_pausing_and_resuming_is_seen_by_the_next_send(
    api, sender_key, sms_channel, dispatches, django_capture_on_commit_callbacks
):
    def sent() -> int:
        """Send once; how many times the dispatcher was woken on commit."""
        before = len(dispatches)
        with django_capture_on_commit_callbacks(execute=True):
            assert send(api, sender_key, sms_channel).status_code == 202
        return len(dispatches) - before

    assert sent() == 1  # an active channel wakes the dispatcher (and is now kept)
    dispatch.set_paused(sms_channel, True)
    assert sent() == 0  # paused: accepted, but nobody is woken
    dispatch.set_paused(sms_channel, False)
    assert sent() == 1


def test_an_unchanged_channel_is_not_read_again(api, sender_key, sms_channel):
    assert send(api, sender_key, sms_channel).status_code == 202
    with CaptureQueriesContext(connection) as queries:
        assert send(api, sender_key, sms_channel).status_code == 202
    assert channel_queries(queries.captured_queries) == []


def test_each_caller_gets_its_own_instance(sms_channel):
    workspace = Workspace.objects.get(pk=sms_channel.workspace_id)
    first = channels.channel_of(workspace, sms_channel.id)
    first.settings["latency_ms"] = "999"
    first.name = "changed in memory"
    again = channels.channel_of(workspace, sms_channel.id)
    assert again.name == sms_channel.name
    assert again.settings == Channel.objects.get(pk=sms_channel.pk).settings
    assert again.workspace is workspace and not again._state.adding


def test_a_channel_of_another_workspace_is_none(sms_channel, other_workspace, api, foreign_key, sender_key):
    assert channels.channel_of(other_workspace, sms_channel.id) is None
    theirs = factories.create_channel(other_workspace, "sms", "sandbox", name="theirs")
    assert send(api, sender_key, theirs).status_code == 404  # my key, their channel: not found
    # and their key on my channel, after mine was kept by this process
    assert send(api, sender_key, sms_channel).status_code == 202
    resp = api.key(foreign_key).post(
        f"/workspaces/{other_workspace.id}/channels/{sms_channel.id}/messages",
        {"receiver": {"contacts": [{"identifierKey": "phonenumber", "identifierValue": PHONE}]},
         "body": {"type": "text", "text": {"text": "hi"}}},
        format="json",
    )
    assert resp.status_code == 404
