# Version counters on the workspace row (messaging.services.versioned): each change of a
# workspace's webhook subscriptions or channels bumps one, so processes know when what
# they keep of them is out of date.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("messaging", "0014_message_waiting_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="workspace",
            name="webhooks_version",
            field=models.PositiveBigIntegerField(default=0, editable=False),
        ),
        migrations.AddField(
            model_name="workspace",
            name="channels_version",
            field=models.PositiveBigIntegerField(default=0, editable=False),
        ),
    ]
