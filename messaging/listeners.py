"""Wires the on-commit signals of messaging.signals to their consumers.

Each consumer module exposes plain functions; this is the one place that connects them,
so "who reacts to a status change" is answered by reading this file.
"""

from messaging import signals
from messaging.live import events as live_events

# The live dashboard websocket (/ws/live/).
signals.message_status_changed.connect(live_events.on_status_changed, dispatch_uid="live.status")
signals.message_received.connect(live_events.on_message_received, dispatch_uid="live.incoming")
signals.endpoint_state_changed.connect(live_events.on_endpoint_state_changed, dispatch_uid="live.endpoint")
