"""`manage.py createservice --workspace ID --name NAME ...` → {"id", "key"}.

A service is an integration of the compatibility dialects: its key is the 002 `key`
header and the 003/004 `apiKey`. `--channel PLATFORM=CHANNEL_ID` says which channel
delivers each platform; a platform not given uses the workspace's only active channel of
that platform (stored in Service.channel_map at creation).
"""

from messaging.management.base import (
    SwitchboardCommand,
    create_service,
    get_workspace,
    parse_pairs,
    service_channel_map,
)


class Command(SwitchboardCommand):
    help = "Register a service (integration) in a workspace; its key is shown once."

    def add_arguments(self, parser):
        parser.add_argument("--workspace", required=True, help="Workspace id.")
        parser.add_argument("--name", required=True, help="Unique within the workspace.")
        parser.add_argument("--notify-url", default="", help="Default URL for delivery reports.")
        parser.add_argument("--inactive", action="store_true", help="Create it switched off.")
        parser.add_argument(
            "--channel",
            action="append",
            default=[],
            metavar="PLATFORM=CHANNEL_ID",
            help="Channel serving a platform, repeatable.",
        )

    def handle(self, *args, **options):
        workspace = get_workspace(options["workspace"])
        mapping = service_channel_map(workspace, parse_pairs(options["channel"], "--channel"))
        service, key = create_service(
            workspace, options["name"], options["notify_url"], not options["inactive"], mapping
        )
        lines = [
            f"Created service {service.name!r} ({'active' if service.active else 'inactive'})",
            f"id: {service.id}",
            f"key: {key}",
        ]
        lines += [f"channel {platform}: {channel_id}" for platform, channel_id in sorted(mapping.items())]
        lines.append("Store the key now: it is not shown again.")
        self.emit(options, {"id": str(service.id), "key": key}, lines)
