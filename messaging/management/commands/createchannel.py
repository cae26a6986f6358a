"""`manage.py createchannel --workspace ID --platform P --connector C ...` → {"id", ...secrets}.

An `engine` channel gets its first device (`endpointToken`); `sandbox` and `webhook`
channels print the secret that signs their inbound hook (`inboundSecret`).
"""

from messaging.management.base import (
    SwitchboardCommand,
    channel_settings,
    create_channel,
    get_workspace,
    parse_pairs,
)
from messaging.models import MessageType


class Command(SwitchboardCommand):
    help = "Create a channel of a workspace."

    def add_arguments(self, parser):
        parser.add_argument("--workspace", required=True, help="Workspace id.")
        parser.add_argument("--platform", required=True, help="sms, email, appmessaging, whatsapp, push, ...")
        parser.add_argument("--connector", required=True, help="sandbox, engine, smtp, webhook or app.")
        parser.add_argument("--name", default="", help="Unique within the workspace (default 'PLATFORM (CONNECTOR)').")
        parser.add_argument(
            "--message-type",
            default=MessageType.TRANSACTIONAL,
            help="promotional, conversational, transactional (default) or 2fa.",
        )
        parser.add_argument(
            "--setting",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="Connector setting, repeatable: url= (webhook), latency_ms=/failure_rate= (sandbox), "
            "host=/port=/username=/password=/from= (smtp).",
        )

    def handle(self, *args, **options):
        workspace = get_workspace(options["workspace"])
        values = channel_settings(options["connector"], parse_pairs(options["setting"], "--setting"))
        channel, secrets = create_channel(
            workspace, options["platform"], options["connector"], options["name"], options["message_type"], values
        )
        payload = {"id": str(channel.id)}
        if "endpointToken" in secrets:
            payload["endpointToken"] = secrets["endpointToken"]
        if "inboundSecret" in secrets:
            payload["inboundSecret"] = secrets["inboundSecret"]
        lines = [f"Created channel {channel.name!r} ({channel.platform}/{channel.connector})", f"id: {channel.id}"]
        lines += [f"{key}: {value}" for key, value in payload.items() if key != "id"]
        if len(payload) > 1:
            lines.append("Store the secrets now: they are not shown again.")
        self.emit(options, payload, lines)
