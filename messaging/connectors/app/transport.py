"""The `app` connector: messages of an `appmessaging` channel to app users' inboxes.

A message's receiver (`userid` or `customerid`) names an AppUser of the workspace by
username. send_batch copies each message into that user's inbox (services.app_messages.
deliver_to_app_user), which pushes it to the user's connected /ws/app/ sockets on commit,
and answers "sent"; the message becomes `delivered` when the app reports it over /ws/app/
(or the user reads it). An unknown, blocked or not activated user fails the message with
a reason. The copy is made once per message, so a retried batch never duplicates it.
"""

import logging

from messaging.connectors.base import BaseConnector, SendResult
from messaging.models import Message
from messaging.services import app_messages

log = logging.getLogger(__name__)


class AppConnector(BaseConnector):
    slug = "app"
    settings_schema: dict[str, type] = {}

    def send_batch(self, messages: list[Message]) -> list[SendResult]:
        results = []
        for message in messages:
            try:
                status, reason = app_messages.deliver_to_app_user(message)
            except Exception as exc:  # one bad message must not fail the batch's others
                log.exception("app connector: message %s could not be delivered", message.id)
                status, reason = "retry", f"app: {exc}"[:500]
            results.append(SendResult(message.id, status, reason))
        return results
