# Two foreign keys lose the index of their own, which an index on several columns already
# leads with: ContactIdentifier.workspace (identifier_unique_per_workspace) and
# MessageEvent.message (event_message_time). Fewer indexes to write per event, and the
# send's identifier lookup can no longer be planned on the single-column one (PostgreSQL
# did so on young statistics, filtering every identifier of the workspace).
#
# Only the indexes are dropped (CONCURRENTLY on PostgreSQL, so writers carry on): letting
# Django alter the fields would rebuild both tables on SQLite and re-check every row's
# foreign key on PostgreSQL.

import django.db.models.deletion
from django.db import migrations, models

INDEXES = [
    ("messaging_contactidentifier", "messaging_contactidentifier_workspace_id_963bb2e7", "workspace_id"),
    ("messaging_messageevent", "messaging_messageevent_message_id_2f3585a9", "message_id"),
]


def drop(apps, schema_editor):
    concurrently = " CONCURRENTLY" if schema_editor.connection.vendor == "postgresql" else ""
    for _table, name, _column in INDEXES:
        schema_editor.execute(f'DROP INDEX{concurrently} IF EXISTS "{name}"')


def create(apps, schema_editor):
    concurrently = " CONCURRENTLY" if schema_editor.connection.vendor == "postgresql" else ""
    for table, name, column in INDEXES:
        schema_editor.execute(f'CREATE INDEX{concurrently} IF NOT EXISTS "{name}" ON "{table}" ("{column}")')


class Migration(migrations.Migration):
    atomic = False  # DROP INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("messaging", "0015_workspace_versions"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="contactidentifier",
                    name="workspace",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="messaging.workspace",
                    ),
                ),
                migrations.AlterField(
                    model_name="messageevent",
                    name="message",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="events",
                        to="messaging.message",
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(drop, create)],
        ),
    ]
