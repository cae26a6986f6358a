"""Message's indexes (migration 0012): no foreign key has an index of its own when a
composite index starts with it, the mostly empty ones have partial indexes, and every
lookup by a foreign key (including ON DELETE SET NULL of the referenced row) still uses
an index — on SQLite and on PostgreSQL."""

import importlib

import pytest
from django.db import connection

FOREIGN_KEYS = [
    "workspace_id", "channel_id", "conversation_id", "template_id", "service_id", "reply_to_id", "origin_id", "endpoint_id",
]


def indexes() -> dict[str, list[str]]:
    """Index name -> its columns."""
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, "messaging_message")
    return {name: c["columns"] for name, c in found.items() if c["index"]}


def index_names() -> set[str]:
    return set(indexes())


def plan(sql: str) -> str:
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
            return " ".join(str(row[-1]) for row in cursor.fetchall())
        cursor.execute("SET LOCAL enable_seqscan = off")  # an empty test table would be scanned otherwise
        cursor.execute(f"EXPLAIN {sql}")
        return " ".join(row[0] for row in cursor.fetchall())


def test_the_foreign_keys_own_indexes_are_gone(db):
    migration = importlib.import_module("messaging.migrations.0012_message_lean_indexes")
    names = index_names()
    assert not names & set(migration.FK_INDEXES), names
    assert {"message_template_set", "message_service_set", "message_reply_to_set", "message_origin_set",
            "message_endpoint_set", "messaging_message_contact_id_20c3f93a"} <= names


@pytest.mark.parametrize("column", FOREIGN_KEYS)
def test_a_lookup_by_each_foreign_key_uses_an_index(db, column):
    leading = {name for name, columns in indexes().items() if columns and columns[0] == column}
    assert leading, f"no index starts with {column}"
    sample = "'00000000000000000000000000000000'" if connection.vendor == "sqlite" else "'00000000-0000-0000-0000-000000000000'"
    for sql in (
        f"SELECT id FROM messaging_message WHERE {column} = {sample}",
        f"UPDATE messaging_message SET updated_at = updated_at WHERE {column} IN ({sample})",
    ):
        found = plan(sql)
        assert any(name in found for name in leading), found


def test_the_dispatchers_claim_reads_the_waiting_messages_index_not_the_channels_history(db):
    """A channel with a long history of delivered messages and a few waiting ones, and no
    statistics yet (as on a young or fast-growing table): the claim reads only the waiting
    messages. PostgreSQL had picked the channel's whole history
    (message_channel_page) here, 4-7 ms per claim at 9,000 messages and growing."""
    from django.db.models.functions import Now
    from django.utils import timezone

    from messaging.models import Message, Status
    from messaging.services import dispatch
    from tests import factories

    channel = factories.create_channel(factories.create_workspace("Acme"))
    history = [
        Message(workspace=channel.workspace, channel=channel, body={"type": "text", "text": {"text": "old"}},
                validity=60, status=Status.DELIVERED, last_status_at=Now())
        for _ in range(3000)
    ]
    Message.objects.bulk_create(history, batch_size=500)
    waiting = [factories.create_message(channel, None, status=Status.ACCEPTED) for _ in range(5)]

    statements = []

    def capture(execute, sql, params, many, context):
        statements.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture):
        claimable = dispatch._claimable(timezone.now(), 200, None)
    assert sorted(row[0] for row in claimable) == sorted(m.id for m in waiting)  # what it finds is still right
    sql, params = statements[-1]
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
            found = " ".join(str(row[-1]) for row in cursor.fetchall())
            # SQLite reads message_claims by status and sorts the few waiting ones it finds.
            assert "message_waiting" in found or "message_claims" in found, found
            assert "message_channel_page" not in found, found
            return
        # PostgreSQL: the plan for these values, and the generic plan a prepared statement
        # may switch to after five runs (the one that must not depend on the values).
        from psycopg import sql as pgsql

        literals = [pgsql.Literal(v).as_string(cursor.connection) for v in params]
        numbered = sql
        for index in range(1, len(params) + 1):
            numbered = numbered.replace("%s", f"${index}", 1)
        cursor.execute(f"EXPLAIN {sql}", params)
        custom = " ".join(row[0] for row in cursor.fetchall())
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        cursor.execute(f"PREPARE claim_probe AS {numbered}")
        cursor.execute(f"EXPLAIN EXECUTE claim_probe({', '.join(literals)})")
        generic = " ".join(row[0] for row in cursor.fetchall())
        cursor.execute("DEALLOCATE claim_probe")
    for found in (custom, generic):
        # Either index bounded to the waiting messages; which one is the planner's choice
        # by its statistics of the moment (CI's PostgreSQL run took message_claims).
        assert "message_waiting" in found or "message_claims" in found, found
        assert "message_channel_page" not in found, found


def test_events_and_identifiers_have_no_single_column_index_a_composite_one_leads_with(db):
    """Migration 0016: the lookups by message (events) and by workspace (identifiers) are
    served by event_message_time and identifier_unique_per_workspace."""
    with connection.cursor() as cursor:
        events = connection.introspection.get_constraints(cursor, "messaging_messageevent")
        identifiers = connection.introspection.get_constraints(cursor, "messaging_contactidentifier")
    single = [c["columns"] for c in [*events.values(), *identifiers.values()] if c["index"] and len(c["columns"]) == 1]
    assert ["message_id"] not in single and ["workspace_id"] not in single, single
    some_id = "00000000000040008000000000000001"  # a UUID as both databases store it
    assert "event_message_time" in plan(f"SELECT id FROM messaging_messageevent WHERE message_id = '{some_id}'")
    found = plan(
        "SELECT contact_id FROM messaging_contactidentifier"
        f" WHERE workspace_id = '{some_id}' AND key = 'phonenumber' AND value = '+15550100'"
    )
    # The unique constraint's index, by all three columns (SQLite names it sqlite_autoindex_...).
    unique = "identifier_unique_per_workspace" if connection.vendor == "postgresql" else "(workspace_id=? AND key=? AND value=?)"
    assert unique in found, found
