"""messaging.db's written-out statements read and write exactly what the ORM would."""

import uuid
from datetime import timedelta

import pytest
from django.db import connection
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


def test_all_with_parent_outer_joins_a_nullable_parent_orders_and_defers_like_the_orm(db):
    channel = factories.create_channel(factories.create_workspace("Acme"))
    contact = factories.create_contact(channel.workspace, phone="+12015550100", display_name="Ann")
    later = factories.create_message(channel, contact, priority=5)
    first = factories.create_message(channel, contact, priority=1)
    orphan = factories.create_message(channel, None, priority=3)  # no contact: still loaded, with None
    ids = [later.id, first.id, orphan.id]

    got = sql.all_with_parent(
        Message, "contact", order_by=("priority", "created_at", "id"), parent_fields=("opt_outs",), id__in=ids
    )
    orm = list(Message.objects.filter(id__in=ids).select_related("contact").order_by("priority", "created_at", "id"))
    assert [m.id for m in got] == [m.id for m in orm] == [first.id, orphan.id, later.id]
    assert [fields_of(m) for m in got] == [fields_of(m) for m in orm]
    assert got[1].contact is None
    assert got[0].contact.id == contact.id
    assert got[0].contact.get_deferred_fields() >= {"display_name", "attributes"}  # not read
    assert got[0].contact.display_name == "Ann"  # but loaded on access, as .defer() does


def test_update_rows_sets_values_and_increments_counters_where_the_lookups_match(db):
    channel = factories.create_channel(factories.create_workspace("Acme"))
    a, b, c = (factories.create_message(channel, status="processing") for _ in range(3))
    Message.objects.filter(pk=c.pk).update(status="sent")
    at = timezone.now() + timedelta(minutes=1)

    changed = sql.update_rows(
        Message, {"reason": "retry", "claimed_at": at, "claimed_by": "w1"}, {"attempts": 2},
        id__in=[a.id, b.id, c.id], status__in=["processing"],
    )
    assert changed == 2
    rows = {m.id: (m.reason, m.claimed_at, m.claimed_by, m.attempts) for m in Message.objects.all()}
    assert rows[a.id] == rows[b.id] == ("retry", at, "w1", 2)
    assert rows[c.id] == ("", None, "", 0)  # status did not match: untouched


def test_select_rows_for_update_reads_the_same_rows(db):
    channel = factories.create_channel(factories.create_workspace("Acme"))
    message = factories.create_message(channel, status="processing")
    from django.db import transaction

    with transaction.atomic():
        rows = sql.select_rows(Message, ["id", "channel", "service"], for_update=True, id__in=[message.id])
    assert rows == [(message.id, channel.id, None)]


def test_pipelined_writes_land_and_a_failure_is_djangos_integrity_error(db):
    import pytest
    from django.db import IntegrityError, transaction

    workspace = factories.create_workspace("Acme")
    contact = Contact.objects.create(workspace=workspace)
    columns = ["workspace", "contact", "key", "value"]
    with transaction.atomic(), sql.pipelined():
        sql.insert_rows(ContactIdentifier, columns, [(workspace.id, contact.id, "phonenumber", "+12015550100")])
        sql.insert_rows(ContactIdentifier, columns, [(workspace.id, contact.id, "emailaddress", "a@example.com")])
    assert ContactIdentifier.objects.filter(contact=contact).count() == 2

    with pytest.raises(IntegrityError), transaction.atomic(), sql.pipelined():  # on PostgreSQL: raised at the end
        sql.insert_rows(ContactIdentifier, columns, [(workspace.id, contact.id, "phonenumber", "+12015550100")])
    assert ContactIdentifier.objects.filter(contact=contact).count() == 2  # rolled back, still usable


def test_in_lists_share_a_statement_text_per_power_of_two(db):
    assert [sql.in_list_size(n) for n in (1, 2, 3, 4, 5, 8, 9, 1000)] == [1, 2, 4, 4, 8, 8, 16, 1024]
    channel = factories.create_channel(factories.create_workspace("Acme"))
    messages = [factories.create_message(channel) for _ in range(5)]
    before = len(sql._statements)
    for n in (3, 4):  # both padded to 4 placeholders: one text
        got = sql.select_rows(Message, ["id"], id__in=[m.id for m in messages[:n]])
        assert sorted(r[0] for r in got) == sorted(m.id for m in messages[:n])
    assert len(sql._statements) == before + 1


def test_insert_rows_of_many_rows_stores_what_bulk_create_stores(db, django_assert_num_queries):
    """Several rows at once (one INSERT from column arrays on PostgreSQL, executemany on
    SQLite), with empty strings, NULLs in a column and a column of NULLs only."""
    from messaging.models import MessageEvent, SandboxSend

    channel = factories.create_channel(factories.create_workspace("Acme"))
    messages = [factories.create_message(channel, None) for _ in range(3)]
    at = timezone.now()
    reasons = ["", 'é {"a", b}\\ NULL', "x" * 500]  # what an array literal would have to escape
    rows = [(m.id, "sent", reason, "connector:sandbox", at) for m, reason in zip(messages, reasons, strict=True)]
    MessageEvent.objects.all().delete()
    with django_assert_num_queries(1) as captured:
        sql.insert_rows(MessageEvent, ["message", "status", "reason", "actor", "at"], rows)
    if connection.vendor == "postgresql":  # one statement for all rows, not one run per row
        assert "unnest(" in captured.captured_queries[0]["sql"]
    stored = list(MessageEvent.objects.order_by("id").values_list("message_id", "status", "reason", "actor", "at"))
    assert stored == rows

    sql.insert_rows(SandboxSend, ["message", "channel", "attempt", "at"], [(m.id, channel.id, 2, at) for m in messages])
    assert sorted(SandboxSend.objects.values_list("message_id", "channel_id", "attempt")) == sorted(
        (m.id, channel.id, 2) for m in messages
    )

    signals = [("a", None, None), ("b", at, None)]  # NULLs, and a column of nothing but NULLs
    sql.insert_rows(DispatchSignal, ["name", "pending_until", "armed_for"], signals)
    assert sorted(DispatchSignal.objects.values_list("name", "pending_until", "armed_for")) == signals


def test_insert_rows_of_many_rows_can_skip_the_conflicting_ones(db):
    workspace = factories.create_workspace("Acme")
    first, second = Contact.objects.create(workspace=workspace), Contact.objects.create(workspace=workspace)
    columns = ["workspace", "contact", "key", "value"]
    sql.insert_rows(ContactIdentifier, columns, [(workspace.id, first.id, "phonenumber", "+12015550100")])
    sql.insert_rows(
        ContactIdentifier,
        columns,
        [(workspace.id, second.id, "phonenumber", "+12015550100"), (workspace.id, second.id, "emailaddress", "b@x.io")],
        ignore_conflicts=True,
    )
    assert sorted(ContactIdentifier.objects.values_list("contact_id", "key")) == sorted(
        [(first.id, "phonenumber"), (second.id, "emailaddress")]
    )


def test_insert_rows_of_many_rows_never_cuts_a_value_short(db):
    """A value longer than its column: PostgreSQL refuses it, as with a single row (an
    explicit cast to varchar(n) in the statement would have cut it silently); SQLite keeps
    it whole. Either way nothing is stored shorter than it was given."""
    from django.db import DataError, transaction

    workspace = factories.create_workspace("Acme")
    contact = Contact.objects.create(workspace=workspace)
    long_value = "+1" + "2" * 400  # ContactIdentifier.value holds 320
    rows = [(workspace.id, contact.id, "phonenumber", long_value), (workspace.id, contact.id, "emailaddress", "a@x.io")]
    try:
        with transaction.atomic():
            sql.insert_rows(ContactIdentifier, ["workspace", "contact", "key", "value"], rows)
    except DataError:
        assert connection.vendor == "postgresql"
        assert not ContactIdentifier.objects.exists()
    else:
        assert connection.vendor == "sqlite"
        assert ContactIdentifier.objects.get(key="phonenumber").value == long_value


def test_insert_rows_stores_each_rows_values_when_rows_share_value_objects(db):
    """insert_rows converts a value once for a run of rows sharing it (the dispatcher's
    events share status, reason, actor and time); every row must still get its own."""
    from messaging.models import MessageEvent

    channel = factories.create_channel(factories.create_workspace("Acme"))
    messages = [factories.create_message(channel, None) for _ in range(4)]
    early, late = timezone.now() - timedelta(hours=1), timezone.now()
    status, reason = "sent", "shared"
    rows = [
        (messages[0].id, status, reason, "robot", early),
        (messages[1].id, status, reason, "robot", early),
        (messages[2].id, "delivered", reason, "robot", late),  # differs from the row before
        (messages[3].id, status, "", "robot", early),  # back to an earlier value
    ]
    before = set(MessageEvent.objects.values_list("id", flat=True))
    sql.insert_rows(MessageEvent, ["message", "status", "reason", "actor", "at"], rows)
    got = {
        (e.message_id, e.status, e.reason, e.actor, e.at)
        for e in MessageEvent.objects.exclude(id__in=before)
    }
    assert got == set(rows)


def test_insert_rows_refuses_a_row_of_the_wrong_length(db):
    from messaging.models import MessageEvent

    message = factories.create_message(factories.create_channel(factories.create_workspace("Acme")), None)
    with pytest.raises(ValueError, match="every row needs 2 values"):
        sql.insert_rows(MessageEvent, ["message", "status"], [(message.id, "sent", "extra")])
    assert not MessageEvent.objects.filter(message=message, status="sent").exists()


def test_prepare_instances_converts_every_field_as_the_field_itself_would(db):
    """Strings, flags and (where the backend passes them through) integers skip
    get_db_prep_save; the parameters must still be exactly what it would give."""
    channel = factories.create_channel(factories.create_workspace("Acme"))
    message = Message(
        id=uuid.uuid4(), workspace_id=channel.workspace_id, channel=channel, direction="outgoing",
        receiver={"contacts": []}, body={"type": "text", "text": {"text": "hi"}}, reference="ref",
        status=Message._meta.get_field("status").choices[0][0], priority=3, validity=60, attempts=True,
        scheduled_for=None, created_at=timezone.now(), updated_at=timezone.now(), last_status_at=timezone.now(),
    )
    [row] = sql.prepare_instances([message]).rows
    fields = list(Message._meta.concrete_fields)
    expected = [f.get_db_prep_save(getattr(message, f.attname), connection) for f in fields]
    for field, got, want in zip(fields, row, expected, strict=True):
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            continue  # pre_save sets these to the time of the call
        assert type(got) is type(want), field.name
        assert getattr(got, "obj", got) == getattr(want, "obj", want), field.name  # psycopg's Jsonb has no ==


def test_insert_together_stores_rows_of_several_tables_in_one_statement(db, django_assert_num_queries):
    """PostgreSQL: a message, its receiver link and its event as one INSERT with WITH
    clauses, stored as the ORM stores them. Elsewhere it is refused, not emulated."""
    from messaging.models import MessageEvent

    channel = factories.create_channel(factories.create_workspace("Acme"))
    contact = factories.create_contact(channel.workspace, phone="+14155550100")
    now = timezone.now()
    message = Message(
        id=uuid.uuid4(), workspace_id=channel.workspace_id, channel=channel, contact=contact,
        body={"type": "text", "text": {"text": "hi"}}, receiver={"contacts": [{"id": str(contact.id)}]},
        status="accepted", created_at=now, updated_at=now, last_status_at=now,
    )
    rows = sql.prepare_instances([message])
    Link = Message.contacts.through
    parts = [
        (Link, ["message", "contact"], [(message.id, contact.id)]),
        (MessageEvent, ["message", "status", "reason", "actor", "at"], [(message.id, "accepted", "", "test", now)]),
    ]
    if connection.vendor != "postgresql":
        with pytest.raises(NotImplementedError):
            sql.insert_together(rows, *parts)
        assert not Message.objects.filter(id=message.id).exists()
        return
    with django_assert_num_queries(1):
        sql.insert_together(rows, *parts)
    stored = Message.objects.get(id=message.id)
    assert fields_of(stored) | {"updated_at": None} == fields_of(message) | {"updated_at": None}
    assert list(stored.contacts.values_list("id", flat=True)) == [contact.id]
    assert list(stored.events.values_list("status", "actor", "at")) == [("accepted", "test", now)]
    assert not message._state.adding


def test_a_send_to_a_known_receiver_on_postgresql_is_one_insert_statement(db, api):
    """The message, its receiver link and its first event: one statement, no BEGIN/COMMIT
    of its own (inside the test's transaction here, as in any caller's transaction)."""
    workspace = factories.create_workspace("Acme")
    channel = factories.create_channel(workspace, "sms", "sandbox")
    _, key = factories.create_access_key(workspace, "sender")
    factories.create_contact(workspace, phone="+14155550100")
    body = {
        "receiver": {"contacts": [{"identifierKey": "phonenumber", "identifierValue": "+14155550100"}]},
        "body": {"type": "text", "text": {"text": "hi"}},
    }
    url = f"/workspaces/{workspace.id}/channels/{channel.id}/messages"
    assert api.key(key).post(url, body, format="json").status_code == 202  # channel and subscriptions now kept
    statements = []

    def capture(execute, sql_text, params, many, context):
        statements.append(sql_text)
        return execute(sql_text, params, many, context)

    with connection.execute_wrapper(capture):
        assert api.key(key).post(url, body, format="json").status_code == 202
    inserts = [s for s in statements if "INSERT INTO" in s]
    if connection.vendor == "postgresql":
        assert len(inserts) == 1 and inserts[0].startswith("WITH "), inserts
    else:  # SQLite: the message, its link and its event in one write transaction
        assert len(inserts) == 3, inserts
    assert Message.objects.filter(channel=channel).count() == 2
