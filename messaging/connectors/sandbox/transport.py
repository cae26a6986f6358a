"""Sandbox connector: every message is sent and then delivered, nothing leaves the machine.

Settings (channel.settings):
- `latency_ms`: how long one send_batch call takes, as a provider's bulk API would
  (0..60000; the dispatcher's claim timeout must exceed it);
- `failure_rate`: 0..1, the chance each message fails with "sandbox: simulated failure".

What it sent is written to SandboxSend (message, channel, attempt) in one bulk insert, so
tests can count sends and prove no message was sent twice in one attempt.
"""

import random
import time

from django.db import transaction
from django.utils import timezone

from messaging import db
from messaging.connectors.base import BaseConnector, SendResult
from messaging.models import Message, SandboxSend, Status

MAX_LATENCY_MS = 60_000
REASON_SIMULATED = "sandbox: simulated failure"


class SandboxConnector(BaseConnector):
    slug = "sandbox"
    settings_schema = {"latency_ms": int, "failure_rate": float}

    @classmethod
    def validate_settings(cls, values: dict) -> dict:
        out = super().validate_settings(values)
        if "latency_ms" in out and not 0 <= out["latency_ms"] <= MAX_LATENCY_MS:
            raise ValueError(f"settings.latency_ms must be between 0 and {MAX_LATENCY_MS}")
        if "failure_rate" in out and not 0.0 <= out["failure_rate"] <= 1.0:
            raise ValueError("settings.failure_rate must be between 0 and 1")
        return out

    def _latency_seconds(self) -> float:
        try:
            value = int((self.channel.settings or {}).get("latency_ms") or 0)
        except (TypeError, ValueError):
            value = 0
        return min(max(value, 0), MAX_LATENCY_MS) / 1000

    def _failure_rate(self) -> float:
        try:
            value = float((self.channel.settings or {}).get("failure_rate") or 0)
        except (TypeError, ValueError):
            value = 0.0
        return min(max(value, 0.0), 1.0)

    def send_batch(self, messages: list[Message]) -> list[SendResult]:
        latency = self._latency_seconds()
        if latency:
            time.sleep(latency)
        rate = self._failure_rate()
        now = timezone.now()
        results, sends = [], []
        for message in messages:
            if rate and random.random() < rate:
                results.append(SendResult(message.id, Status.SENDING_FAILED, REASON_SIMULATED))
                continue
            sends.append((message.id, message.attempts))
            results.append(SendResult(message.id, Status.DELIVERED))
        _record(self.channel.id, sends, now)
        return results


def _record(channel_id, sends: list[tuple], at) -> None:
    """SandboxSend rows for [(message id, attempt)]: one executemany in one transaction.
    Outside a transaction each row was a transaction of its own, so a batch took SQLite's
    write lock once per message, meeting the web processes' writers in SQLite's sleeping
    busy handler each time instead of queueing once on the writer lock (portal/sqlite)."""
    if not sends:
        return
    with transaction.atomic():
        db.insert_rows(
            SandboxSend, ["message", "channel", "attempt", "at"],
            [(message_id, channel_id, attempt, at) for message_id, attempt in sends],
        )
