"""The chat-ops bot: every incoming message passes through `handle()` before anyone else
sees it (SPEC §5).

- compliance keywords (STOP, START, HELP and synonyms) opt the sender out of or back in
  to the channel's platform and answer with the channel's configured text
  (messaging.bot.keywords);
- "/" commands from the workspace's operator identifiers are run, audited and answered
  (messaging.bot.commands).

`handle()` runs inside the receive transaction and only decides and records; the replies
it returns are sent by `send_replies()` after commit (messaging.services.receive).
"""

from messaging.bot.commands import handle_command, is_command
from messaging.bot.keywords import handle_keyword
from messaging.bot.replies import Outcome, Reply, send_replies
from messaging.models import Contact, Message

__all__ = ["Outcome", "Reply", "handle", "send_replies"]


def handle(message: Message, contact: Contact) -> Outcome:
    """What the bot makes of an incoming message; Outcome() for an ordinary one."""
    if is_command(message):
        return handle_command(message)
    return handle_keyword(message, contact) or Outcome()
