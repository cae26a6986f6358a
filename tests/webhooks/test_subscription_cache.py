"""The send path keeps each workspace's active webhook subscriptions per process
(webhooks.subscriptions_of) and reads them again when the workspace's webhooks_version
says they changed: a subscription made, switched off or deleted through the API is
honoured by the very next send, and an unchanged set costs no query."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from messaging.models import WebhookSubscription, Workspace
from messaging.services import webhooks

pytestmark = pytest.mark.django_db


@pytest.fixture
def hooks(api, workspace, admin_key, sender_key, sms_channel, receiver, allow_private, sync_tasks,
          django_capture_on_commit_callbacks):
    """Sends and subscription changes through the canonical API, as a client makes them."""

    class Hooks:
        def subscribe(self, path: str) -> str:
            resp = api.key(admin_key).post(
                f"/workspaces/{workspace.id}/webhook-subscriptions",
                {"url": receiver.url(path), "events": ["sms.outbound"]},
                format="json",
            )
            assert resp.status_code == 201, resp.content
            return resp.json()["id"]

        def change(self, pk: str, **body):
            resp = api.key(admin_key).patch(
                f"/workspaces/{workspace.id}/webhook-subscriptions/{pk}", body, format="json"
            )
            assert resp.status_code == 200, resp.content

        def delete(self, pk: str):
            resp = api.key(admin_key).delete(f"/workspaces/{workspace.id}/webhook-subscriptions/{pk}")
            assert resp.status_code == 204, resp.content

        def send(self) -> str:
            """One send; returns the paths its events were posted to (with inline tasks the
            delivery runs at once too, so each subscriber gets several statuses)."""
            before = len(receiver.requests)
            with django_capture_on_commit_callbacks(execute=True):
                resp = api.key(sender_key).post(
                    f"/workspaces/{workspace.id}/channels/{sms_channel.id}/messages",
                    {
                        "receiver": {"contacts": [{"identifierKey": "phonenumber", "identifierValue": "+14155550123"}]},
                        "body": {"type": "text", "text": {"text": "hi"}},
                    },
                    format="json",
                )
            assert resp.status_code == 202, resp.content
            return sorted({r.path for r in receiver.requests[before:]})

    return Hooks()


def subscription_queries(queries) -> list[str]:
    table = WebhookSubscription._meta.db_table
    return [q["sql"] for q in queries if table in q["sql"] and q["sql"].lstrip().upper().startswith("SELECT")]


def test_a_new_subscription_gets_the_next_send_even_after_sends_without_any(hooks):
    assert hooks.send() == []  # cached: this workspace has none
    hooks.subscribe("/first")
    assert hooks.send() == ["/first"]
    hooks.subscribe("/second")
    assert hooks.send() == ["/first", "/second"]


def test_a_switched_off_or_deleted_subscription_gets_nothing_from_the_next_send(hooks):
    first, second = hooks.subscribe("/first"), hooks.subscribe("/second")
    assert hooks.send() == ["/first", "/second"]
    hooks.change(first, active=False)
    assert hooks.send() == ["/second"]
    hooks.delete(second)
    assert hooks.send() == []
    hooks.change(first, active=True)
    assert hooks.send() == ["/first"]


def test_an_unchanged_set_is_not_read_again(workspace):
    sub = WebhookSubscription.objects.create(workspace=workspace, url="http://93.184.216.34/a", events=["*"])
    with CaptureQueriesContext(connection) as first:
        assert [s.id for s in webhooks.subscriptions_of(Workspace.objects.get(pk=workspace.pk))[workspace.id]] == [sub.id]
    assert len(subscription_queries(first.captured_queries)) == 1
    with CaptureQueriesContext(connection) as again:  # a fresh row, as every send loads one
        assert [s.id for s in webhooks.subscriptions_of(Workspace.objects.get(pk=workspace.pk))[workspace.id]] == [sub.id]
    assert subscription_queries(again.captured_queries) == []


def test_every_kind_of_change_moves_the_workspace_version(workspace):
    def version() -> int:
        return Workspace.objects.get(pk=workspace.pk).webhooks_version

    start = version()
    sub = WebhookSubscription.objects.create(workspace=workspace, url="http://93.184.216.34/a", events=["*"])
    assert version() == start + 1
    sub.events = ["sms.outbound"]
    sub.save()
    assert version() == start + 2
    webhooks._disable(sub, sub.created_at)  # a receiver answered 410 Gone
    assert version() == start + 3
    webhooks._disable(sub, sub.created_at)  # already off: nothing changed
    assert version() == start + 3
    sub.delete()
    assert version() == start + 4


def test_a_workspace_row_held_for_long_still_sees_changes_after_the_maximum_age(workspace, monkeypatch):
    held = Workspace.objects.get(pk=workspace.pk)  # loaded once, as a long-lived consumer would
    assert webhooks.subscriptions_of(held) == {}
    sub = WebhookSubscription.objects.create(workspace=workspace, url="http://93.184.216.34/a", events=["*"])
    assert webhooks.subscriptions_of(held) == {}  # its version is the old one, and the list is young
    monkeypatch.setattr(webhooks._known_subscriptions, "max_age", 0.0)
    [found] = webhooks.subscriptions_of(held)[workspace.id]
    assert found.id == sub.id


def test_other_workspaces_are_kept_apart(workspace, other_workspace):
    mine = WebhookSubscription.objects.create(workspace=workspace, url="http://93.184.216.34/a", events=["*"])
    WebhookSubscription.objects.create(workspace=other_workspace, url="http://93.184.216.34/b", events=["*"])
    fresh = Workspace.objects.get(pk=workspace.pk)
    assert [s.id for s in webhooks.subscriptions_of(fresh)[workspace.id]] == [mine.id]
    assert list(webhooks.subscriptions_of(fresh)) == [workspace.id]
