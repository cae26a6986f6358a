"""Wires the on-commit signals of messaging.signals to their consumers.

Each consumer module exposes plain functions; this is the one place that connects them,
so "who reacts to a status change" is answered by reading this file.
"""

from messaging import signals
from messaging.live import events as live_events
from messaging.live import relay as live_relay

# The live dashboard websocket (/ws/live/).
signals.message_status_changed.connect(live_events.on_status_changed, dispatch_uid="live.status")
signals.message_received.connect(live_events.on_message_received, dispatch_uid="live.incoming")
signals.endpoint_state_changed.connect(live_events.on_endpoint_state_changed, dispatch_uid="live.endpoint")
# In-memory layer: a change committed in this process wakes this process's relay at once.
signals.message_status_changed.connect(live_relay.nudge, dispatch_uid="live.relay.status")
signals.message_received.connect(live_relay.nudge, dispatch_uid="live.relay.incoming")

# The delivery engine's django-q2 Schedule rows (sweeper, scheduled-message release), created
# after every `migrate` so `make run` has them.
from django.db.models.signals import post_migrate  # noqa: E402

from messaging.services import dispatch as _dispatch  # noqa: E402

post_migrate.connect(_dispatch.on_post_migrate, dispatch_uid="dispatch.schedules")

# Webhook subscriptions: `<platform>.outbound` / `<platform>.inbound` events to subscribers,
# and the retry sweep's django-q2 schedule (messaging.services.webhooks).
from django.db.models import signals as db_signals  # noqa: E402

from messaging.services import webhooks as _webhooks  # noqa: E402

signals.message_status_changed.connect(_webhooks.on_status_changed, dispatch_uid="webhooks.status")
signals.message_received.connect(_webhooks.on_received, dispatch_uid="webhooks.incoming")
db_signals.post_migrate.connect(_webhooks.on_post_migrate, dispatch_uid="webhooks.schedule")
# Every saved or deleted subscription or channel bumps its workspace's version counter,
# which tells the processes to read them again (messaging.services.versioned: the send
# path's webhooks.subscriptions_of and channels.channel_of).
from messaging.models import Channel as _Channel  # noqa: E402
from messaging.models import WebhookSubscription as _WebhookSubscription  # noqa: E402
from messaging.services.versioned import bump_on_change  # noqa: E402

bump_on_change(_WebhookSubscription, "webhooks_version")
bump_on_change(_Channel, "channels_version")

# The engine device protocol (seed 000): device request timeouts and conversation sync
# schedules (messaging.engine.schedules).
from messaging.engine import schedules as _engine_schedules  # noqa: E402

db_signals.post_migrate.connect(_engine_schedules.on_post_migrate, dispatch_uid="engine.schedules")

# Seed 002: deliveryInfoNotification to notify URLs on every 002 delivery-status change, and
# the retry sweep's schedule (messaging.notify).
from messaging import notify as _notify  # noqa: E402

signals.message_status_changed.connect(_notify.on_status_changed, dispatch_uid="notify.status")
db_signals.post_migrate.connect(_notify.on_post_migrate, dispatch_uid="notify.schedule")

# Bulk inserts (the 002 dialect's 1000 destinations) batched by SQLite's real variable limit.
from django.db.backends.signals import connection_created  # noqa: E402

from messaging import db as _db  # noqa: E402

connection_created.connect(_db.use_sqlite_variable_limit, dispatch_uid="send.sqlite_limit")

# Seed 003: an incoming message that lands in an app user's conversation (an SMS reply to a
# number the user wrote to) goes to the user's /ws/app/ sockets.
from messaging.services import app_messages as _app_messages  # noqa: E402

signals.message_received.connect(_app_messages.on_message_received, dispatch_uid="app.incoming")

# Each django-q2 worker freezes its start-up objects, so the garbage collector's full
# passes stop walking them (portal/heap.py): such a pass took ~100 ms, sometimes while the
# worker held SQLite's write lock.
from django_q.signals import post_spawn  # noqa: E402

from portal.heap import freeze_in_worker  # noqa: E402

post_spawn.connect(freeze_in_worker, dispatch_uid="heap.freeze_worker")
