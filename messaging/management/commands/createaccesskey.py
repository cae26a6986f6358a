"""`manage.py createaccesskey --workspace ID --role ROLE --name NAME` → {"id", "key"}.

The key is printed once; only its hash is stored.
"""

from messaging.management.base import SwitchboardCommand, create_access_key, get_workspace
from messaging.models import Role


class Command(SwitchboardCommand):
    help = "Create an API access key of a workspace; the key is shown once."

    def add_arguments(self, parser):
        parser.add_argument("--workspace", required=True, help="Workspace id.")
        parser.add_argument("--role", default=Role.SENDER, help="viewer, sender or admin (default sender).")
        parser.add_argument("--name", default="", help="A label for the key.")

    def handle(self, *args, **options):
        workspace = get_workspace(options["workspace"])
        key, plaintext = create_access_key(workspace, options["role"], options["name"])
        self.emit(
            options,
            {"id": str(key.id), "key": plaintext},
            [
                f"Created {key.role} access key {key.name!r}",
                f"id: {key.id}",
                f"key: {plaintext}",
                "Store the key now: it is not shown again.",
            ],
        )
