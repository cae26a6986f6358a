# The dispatcher's claim index (messaging/services/dispatch.py `_claimable`). Built with
# CREATE INDEX CONCURRENTLY on PostgreSQL, so sends keep writing to a large message table
# while it builds (a plain CREATE INDEX blocks them until it is done); elsewhere as usual.

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class AddIndexConcurrentlyOnPostgres(AddIndexConcurrently):
    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)
        else:
            migrations.AddIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)
        else:
            migrations.AddIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ('messaging', '0013_conversation_thread'),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name='message',
            index=models.Index(condition=models.Q(('status__in', ['accepted', 'scheduled'])), fields=['priority', 'created_at', 'id'], name='message_waiting'),
        ),
    ]
