"""messaging.db's written-out statements read and write exactly what the ORM would."""

import uuid
from datetime import timedelta

from django.utils import timezone

from messaging import db as sql
from messaging.models import Channel, Contact, ContactIdentifier, DispatchSignal, Message, WebhookSubscription
from tests import factories


def fields_of(obj) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields}


def test_get_with_parent_loads_the_row_and_its_parent_like_select_related(db):
    workspace = factories.create_workspace("Acme", default_region="GB")
    channel = factories.create_channel(workspace, "email", "smtp", settings={"host": "mx", "port": 25})
    channel.paused = True
    channel.save()

    got = sql.get_with_parent(Channel, "workspace", id=channel.id, workspace_id=workspace.id)
    orm = Channel.objects.select_related("workspace").get(pk=channel.pk)
    assert fields_of(got) == fields_of(orm)
    assert fields_of(got.workspace) == fields_of(orm.workspace)
    assert got.workspace.default_region == "GB" and got.settings["port"] == 25 and got.paused is True
    assert not got._state.adding


def test_get_with_parent_is_none_for_another_workspace_or_no_row(db):
    channel = factories.create_channel(factories.create_workspace("Acme"))
    other = factories.create_workspace("Globex")
    assert sql.get_with_parent(Channel, "workspace", id=channel.id, workspace_id=other.id) is None
    assert sql.get_with_parent(Channel, "workspace", id=uuid.uuid4(), workspace_id=channel.workspace_id) is None


def test_all_with_parent_loads_every_matching_row_with_its_parent(db, django_assert_num_queries):
    acme, globex = factories.create_workspace("Acme"), factories.create_workspace("Globex")
    mine = {factories.create_channel(acme, name=f"c{i}").id for i in range(3)}
    factories.create_channel(globex, name="theirs")
    with django_assert_num_queries(1):
        got = sql.all_with_parent(Channel, "workspace", workspace_id=acme.id)
        assert {c.workspace.name for c in got} == {"Acme"}  # loaded with the rows
    assert {c.id for c in got} == mine
    assert len(sql.all_with_parent(Channel, "workspace", limit=2, workspace_id=acme.id)) == 2


def test_an_access_key_is_found_by_its_token_with_its_workspace_in_one_query(db, django_assert_num_queries):
    from messaging.models import AccessKey

    workspace = factories.create_workspace("Acme")
    key, token = factories.create_access_key(workspace, "sender")
    twin, _ = factories.create_access_key(workspace, "viewer")
    AccessKey.objects.filter(pk=twin.pk).update(token_prefix=key.token_prefix)  # a prefix collision: two candidates
    with django_assert_num_queries(1):
        found = AccessKey.find_by_token_with(token, "workspace", active=True)
        assert found.workspace.name == "Acme"
    assert found == key  # the candidate whose hash matches, not the other
    assert AccessKey.find_by_token_with(token[:-1] + ("x" if token[-1] != "x" else "y"), "workspace") is None
    assert AccessKey.find_by_token_with("short", "workspace") is None
    AccessKey.objects.filter(pk=key.pk).update(active=False)
    assert AccessKey.find_by_token_with(token, "workspace", active=True) is None  # revoked at once


def test_select_rows_equals_values_list(db):
    acme, globex = factories.create_workspace("Acme"), factories.create_workspace("Globex")
    for workspace, events, active in ((acme, ["sms.outbound"], True), (acme, ["*"], False), (globex, [], True)):
        WebhookSubscription.objects.create(workspace=workspace, url="https://example.com/h", events=events, active=active)
    got = sql.select_rows(
        WebhookSubscription, ["id", "workspace_id", "events"], workspace_id__in=[acme.id, globex.id], active=True
    )
    orm = WebhookSubscription.objects.filter(active=True).values_list("id", "workspace_id", "events")
    assert sorted(got, key=str) == sorted(orm, key=str)
    assert sorted(events for _, _, events in got) == [[], ["sms.outbound"]]  # JSON decoded as the ORM does


def test_exists_with_equals_and_greater_than(db):
    now = timezone.now()
    DispatchSignal.objects.create(name="dispatch", pending_until=now + timedelta(seconds=5))
    assert sql.exists(DispatchSignal, name="dispatch", pending_until__gt=now)
    assert not sql.exists(DispatchSignal, name="dispatch", pending_until__gt=now + timedelta(seconds=10))
    assert not sql.exists(DispatchSignal, name="timer")


def test_insert_instances_stores_what_bulk_create_stores(db):
    channel = factories.create_channel(factories.create_workspace("Acme"))
    contact = Contact(workspace_id=channel.workspace_id, attributes={"tier": "gold"})
    sql.insert_instances([contact])
    ours = Message(
        workspace=channel.workspace, channel=channel, contact_id=contact.id, body={"type": "text", "text": {"text": "é"}},
        meta={"extraInformation": {"useCase": "marketing"}}, scheduled_for=timezone.now() + timedelta(hours=1),
    )
    theirs = Message(**{k: v for k, v in fields_of(ours).items() if k != "id"})
    sql.insert_instances([ours])
    Message.objects.bulk_create([theirs])
    stored = {m.id: fields_of(m) for m in Message.objects.all()}
    mine, orm = stored[ours.id], stored[theirs.id]
    assert {k: v for k, v in mine.items() if k not in ("id", "updated_at")} == {
        k: v for k, v in orm.items() if k not in ("id", "updated_at")
    }
    assert Contact.objects.get(pk=contact.id).attributes == {"tier": "gold"}


def test_insert_rows_can_skip_a_conflicting_row(db):
    workspace = factories.create_workspace("Acme")
    first, second = Contact.objects.create(workspace=workspace), Contact.objects.create(workspace=workspace)
    columns = ["workspace", "contact", "key", "value"]
    sql.insert_rows(ContactIdentifier, columns, [(workspace.id, first.id, "phonenumber", "+12015550100")])
    sql.insert_rows(
        ContactIdentifier, columns, [(workspace.id, second.id, "phonenumber", "+12015550100")], ignore_conflicts=True
    )
    assert list(ContactIdentifier.objects.values_list("contact_id", flat=True)) == [first.id]
