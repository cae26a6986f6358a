"""Compliance keywords: STOP / START / HELP and their synonyms (SPEC §5).

The whole message, trimmed and case-insensitive, must be the keyword ("stop" opts out,
"please stop texting me" is an ordinary message). Opting out or in applies to the
channel's platform only: a contact who stops SMS still gets email.

Each channel can word its answers in `Channel.settings`:

- ``"stop_text"``  - the answer to STOP (default: ``DEFAULT_STOP_TEXT``)
- ``"start_text"`` - the answer to START (default: ``DEFAULT_START_TEXT``)
- ``"help_text"``  - the answer to HELP (default: ``DEFAULT_HELP_TEXT``)

Defaults are short and plain ASCII so they fit one SMS segment.
"""

from messaging.bot.replies import Outcome, Reply
from messaging.models import Channel, Contact, Message

STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
START_WORDS = frozenset({"START", "YES", "UNSTOP", "SUBSCRIBE"})
HELP_WORDS = frozenset({"HELP", "INFO"})

DEFAULT_STOP_TEXT = (
    "You're unsubscribed and won't get more messages from us here. Reply START to resubscribe."
)
DEFAULT_START_TEXT = "You're subscribed again. Reply STOP to unsubscribe or HELP for help."
DEFAULT_HELP_TEXT = "Reply STOP to unsubscribe, START to resubscribe."

# Keyword answers must reach the contact even after STOP (the confirmation of the opt-out
# itself, and HELP at any time); the dispatcher exempts this use case from opt-outs.
COMPLIANCE_USE_CASE = "compliance"

_TEXT_SETTINGS = {
    "stop": ("stop_text", DEFAULT_STOP_TEXT),
    "start": ("start_text", DEFAULT_START_TEXT),
    "help": ("help_text", DEFAULT_HELP_TEXT),
}


def keyword_of(text: str) -> str:
    """The keyword kind ("stop", "start", "help"), or "" for any other text."""
    word = (text or "").strip().upper()
    if word in STOP_WORDS:
        return "stop"
    if word in START_WORDS:
        return "start"
    if word in HELP_WORDS:
        return "help"
    return ""


def channel_text(channel: Channel, kind: str) -> str:
    """The channel's configured answer for a keyword kind, or the default."""
    setting, default = _TEXT_SETTINGS[kind]
    configured = (channel.settings or {}).get(setting)
    return configured.strip() if isinstance(configured, str) and configured.strip() else default


def handle_keyword(message: Message, contact: Contact) -> Outcome | None:
    """Act on a compliance keyword; None when the message is not one.

    `contact` must be locked by the caller (select_for_update) so concurrent keywords from
    one person do not overwrite each other's opt-out list.
    """
    kind = keyword_of(message.text)
    if not kind:
        return None
    platform = message.channel.platform
    if kind == "stop":
        _set_opt_out(contact, platform, opted_out=True)
    elif kind == "start":
        _set_opt_out(contact, platform, opted_out=False)
    sender = message.sender
    reply = Reply(
        channel=message.channel,
        identifier_key=sender["identifierKey"],
        identifier_value=sender["identifierValue"],
        text=channel_text(message.channel, kind),
        reply_to=message,
        use_case=COMPLIANCE_USE_CASE,
    )
    return Outcome(handled_as=kind, replies=[reply])


def _set_opt_out(contact: Contact, platform: str, *, opted_out: bool) -> None:
    current = list(contact.opt_outs or [])
    if opted_out and platform not in current:
        current.append(platform)
    elif not opted_out and platform in current:
        current = [p for p in current if p != platform]
    else:
        return
    contact.opt_outs = current
    contact.save(update_fields=["opt_outs", "updated_at"])
