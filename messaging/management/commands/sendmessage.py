"""`manage.py sendmessage --channel ID --to RECEIVER --text TEXT` → the message resource.

The receiver is an email address when it contains `@`, otherwise a phone number (read in
the workspace's default region). The message goes through the same send service as the
APIs (messaging.services.send), so it is accepted, queued and dispatched like any other.
"""

from django.core.management.base import CommandError

from messaging.errors import DomainError
from messaging.management.base import SwitchboardCommand, get_channel
from messaging.models import IdentifierKey, Message


def identifier_key_for(receiver: str) -> str:
    return IdentifierKey.EMAILADDRESS if "@" in receiver else IdentifierKey.PHONENUMBER


def message_resource(message: Message) -> dict:
    return {
        "id": str(message.id),
        "channelId": str(message.channel_id),
        "direction": message.direction,
        "status": message.status,
        "reason": message.reason or None,
        "receiver": message.receiver,
        "body": message.body,
        "createdAt": message.created_at.isoformat().replace("+00:00", "Z"),
    }


class Command(SwitchboardCommand):
    help = "Send a text message on a channel (to a phone number, or an email address if it has @)."

    def add_arguments(self, parser):
        parser.add_argument("--channel", required=True, help="Channel id.")
        parser.add_argument("--to", required=True, help="Phone number or email address of the receiver.")
        parser.add_argument("--text", required=True, help="Message text.")

    def handle(self, *args, **options):
        from messaging.services.send import send_text

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
            problems = "; ".join(f"{field}: {', '.join(msgs)}" for field, msgs in exc.details.items())
            raise CommandError(f"--to/--text: {problems or exc.message}") from None
        resource = message_resource(message)
        self.emit(
            options,
            resource,
            [f"Message {resource['id']} {resource['status']} on channel {channel.name!r} to {receiver}"],
        )
