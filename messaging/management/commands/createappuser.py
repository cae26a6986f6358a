"""`manage.py createappuser --workspace ID --username U --password P [--msisdn N]` → {"id"}.

An end user of the 003/004 dialects. The password is stored with Django's hasher and the
msisdn in E.164 (national numbers read in the workspace's default region).
"""

from messaging.management.base import SwitchboardCommand, create_app_user, get_workspace


class Command(SwitchboardCommand):
    help = "Create an app user (end user of the user-message APIs) in a workspace."

    def add_arguments(self, parser):
        parser.add_argument("--workspace", required=True, help="Workspace id.")
        parser.add_argument("--username", required=True, help="Unique within the workspace; may contain @.")
        parser.add_argument("--password", required=True, help="Stored hashed.")
        parser.add_argument("--msisdn", default="", help="Phone number of the user.")

    def handle(self, *args, **options):
        workspace = get_workspace(options["workspace"])
        user = create_app_user(workspace, options["username"], options["password"], options["msisdn"])
        lines = [f"Created app user {user.username!r}", f"id: {user.id}"]
        if user.msisdn:
            lines.append(f"msisdn: {user.msisdn}")
        self.emit(options, {"id": user.id}, lines)
