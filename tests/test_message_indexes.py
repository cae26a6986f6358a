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
