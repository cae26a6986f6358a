"""`manage.py createworkspace --name NAME [--timezone TZ] [--region CC]` → {"id"}."""

from messaging.management.base import SwitchboardCommand, create_workspace


class Command(SwitchboardCommand):
    help = "Create a workspace (tenant)."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True, help="Unique name of the workspace.")
        parser.add_argument("--timezone", default="UTC", help="IANA time zone, e.g. Europe/Berlin (default UTC).")
        parser.add_argument("--region", default="US", help="Default phone region for national numbers (default US).")

    def handle(self, *args, **options):
        workspace = create_workspace(options["name"], options["timezone"], options["region"])
        self.emit(options, {"id": str(workspace.id)}, [f"Created workspace {workspace.name!r}", f"id: {workspace.id}"])
