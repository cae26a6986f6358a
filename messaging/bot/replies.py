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
    from messaging.services.send import send_text  # the send path imports far more than the bot needs

    for reply in replies:
        fields = {"use_case": reply.use_case} if reply.use_case else {}
        try:
            send_text(
                reply.channel,
                reply.identifier_key,
                reply.identifier_value,
                reply.text,
                actor=BOT_ACTOR,
                reply_to=reply.reply_to,
                **fields,
            )
        except Exception:
            log.exception("bot reply to %s on channel %s failed", reply.identifier_value, reply.channel.id)
