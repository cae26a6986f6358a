"""What the bot hands back to the receive path: replies to send once the incoming message
is committed."""

import logging
from dataclasses import dataclass, field

from messaging.models import Channel, Message

log = logging.getLogger(__name__)

BOT_ACTOR = "bot"


@dataclass(frozen=True)
class Reply:
    """An outgoing text over `channel` to one identifier, answering `reply_to`."""

    channel: Channel
    identifier_key: str
    identifier_value: str
    text: str
    reply_to: Message | None = None
    # "compliance" for keyword answers: the dispatcher sends those even to a contact who
    # has just opted out (messaging.services.rules.OPT_OUT_EXEMPT_USE_CASES).
    use_case: str = ""


@dataclass
class Outcome:
    """The bot's verdict on one incoming message.

    `handled_as` is "" for an ordinary message, else what the bot saw in it ("stop",
    "start", "help", "command"); it is recorded in Message.meta["bot"].
    """

    handled_as: str = ""
    replies: list[Reply] = field(default_factory=list)


def send_replies(replies: list[Reply]) -> None:
    """Send each reply through the ordinary send path; one failing never stops the rest."""
    for reply in replies:
        try:
            _send(reply)
        except Exception:
            log.exception("bot reply to %s on channel %s failed", reply.identifier_value, reply.channel.id)


def _send(reply: Reply) -> Message:
    # Imported here: the send path imports far more than the bot needs at import time.
    from messaging.services.send import accept_message, send_text

    fields: dict = {"reply_to": reply.reply_to}
    if reply.reply_to is not None and reply.reply_to.conversation_id:
        fields["conversation"] = reply.reply_to.conversation  # the answer shows in the same thread
    if not reply.use_case:
        return send_text(
            reply.channel, reply.identifier_key, reply.identifier_value, reply.text, actor=BOT_ACTOR, **fields
        )
    # send_text cannot set a use case (it is part of the request's meta), so this is
    # send_text's request plus meta.extraInformation.useCase, through the same send path.
    data = {
        "receiver": {
            "contacts": [{"identifierKey": reply.identifier_key, "identifierValue": reply.identifier_value}]
        },
        "body": {"type": "text", "text": {"text": reply.text}},
        "meta": {"extraInformation": {"useCase": reply.use_case}},
    }
    return accept_message(reply.channel.workspace, reply.channel, data, actor=BOT_ACTOR, **fields)
