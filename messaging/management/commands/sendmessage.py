"""`manage.py sendmessage --channel ID --to RECEIVER --text TEXT` → the message resource.

The receiver is an email address when it contains `@`, otherwise a phone number (read in
the workspace's default region). The message goes through the same send service as the
APIs (messaging.services.send), so it is accepted, queued and dispatched like any other.
"""

from django.core.management.base import CommandError

from messaging.dialects.channels_api.messages_serializers import MessageSerializer
from messaging.errors import DomainError
from messaging.management.base import SwitchboardCommand, get_channel
from messaging.models import IdentifierKey
from messaging.services.send import send_text


def identifier_key_for(receiver: str) -> str:
    return IdentifierKey.EMAILADDRESS if "@" in receiver else IdentifierKey.PHONENUMBER


def flag_for(field_name: str) -> str:
    """The command-line flag behind a field of the send service's error details."""
    if field_name.startswith("receiver") or field_name.startswith("identifier"):
        return "--to"
    if field_name.startswith("body"):
        return "--text"
    if field_name.startswith("channel"):
        return "--channel"
    return field_name


class Command(SwitchboardCommand):
    help = "Send a text message on a channel (to a phone number, or an email address if it has @)."

    def add_arguments(self, parser):
        parser.add_argument("--channel", required=True, help="Channel id.")
        parser.add_argument("--to", required=True, help="Phone number or email address of the receiver.")
        parser.add_argument("--text", required=True, help="Message text.")

    def handle(self, *args, **options):
        channel = get_channel(options["channel"])
        receiver = options["to"].strip()
        if not receiver:
            raise CommandError("--to: may not be blank")
        if not options["text"].strip():
            raise CommandError("--text: may not be blank")
        key = identifier_key_for(receiver)
        try:
            message = send_text(channel, key, receiver, options["text"], actor="cli")
        except DomainError as exc:
            problems = [f"{flag_for(f)}: {'; '.join(msgs)}" for f, msgs in (exc.details or {}).items()]
            raise CommandError("; ".join(problems) or f"--channel: {exc.message}") from None
        resource = dict(MessageSerializer(message).data)
        self.emit(
            options,
            resource,
            [f"Message {resource['id']} {resource['status']} on channel {channel.name!r} to {receiver}"],
        )
