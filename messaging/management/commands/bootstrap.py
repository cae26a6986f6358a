"""`manage.py bootstrap [--rotate]`: the demo data `make run` starts with.

Idempotent: every object is found by its natural key (workspace name, key name, ...) and
created only when absent, so a second run creates nothing and prints the same ids.
Secrets (keys, tokens, passwords) are printed only when just created; `--rotate` issues
fresh ones for everything and prints those. The admin password comes from
SWITCHBOARD_ADMIN_PASSWORD when set (and is then never printed), otherwise it is generated.
"""

import os
import secrets

from django.contrib.auth import get_user_model
from django.db import transaction

from messaging.management.base import (
    SwitchboardCommand,
    create_access_key,
    create_app_user,
    create_channel,
    create_endpoint,
    create_service,
    create_workspace,
    email_channel_settings,
)
from messaging.models import (
    AccessKey,
    AppUser,
    Channel,
    Connector,
    Membership,
    MessagingEndpoint,
    Role,
    Service,
    Workspace,
)
from messaging.secrets import new_salt

WORKSPACE = "Demo"
ADMIN_USERNAME = "admin"
KEY_NAMES = {Role.ADMIN: "Demo admin key", Role.SENDER: "Demo sender key", Role.VIEWER: "Demo viewer key"}
SANDBOX_SMS = "SMS (sandbox)"
EMAIL = "Email (SMTP)"
ENGINE_SMS = "SMS (phone)"
ENDPOINT = "Phone 1"
SERVICE = "Demo service"
APP_USER = "demo"
APP_USER_MSISDN = "+14155552671"


class Command(SwitchboardCommand):
    help = "Create the demo workspace, admin user, keys, channels, service and app user if absent."

    def add_arguments(self, parser):
        parser.add_argument("--rotate", action="store_true", help="Issue fresh secrets for every demo credential.")

    def handle(self, *args, **options):
        self.rotate = options["rotate"]
        self.created: list[str] = []
        with transaction.atomic():
            result = self.build()
        result["created"] = self.created
        self.emit(options, result, self.lines(result))

    # --- steps --------------------------------------------------------------------------

    def build(self) -> dict:
        workspace = Workspace.objects.filter(name=WORKSPACE).first()
        if workspace is None:
            workspace = create_workspace(WORKSPACE, "UTC", "US")
            self.created.append("workspace")
        return {
            "workspace": {"id": str(workspace.id), "name": workspace.name},
            "adminUser": self.admin_user(workspace),
            "accessKeys": {role.value: self.access_key(workspace, role) for role in KEY_NAMES},
            "channels": {
                "sms": self.sandbox_channel(workspace),
                "email": self.email_channel(workspace),
                "engine": self.engine_channel(workspace),
            },
            "service": self.service(workspace),
            "appUser": self.app_user(workspace),
        }

    def admin_user(self, workspace: Workspace) -> dict:
        User = get_user_model()
        env_password = os.environ.get("SWITCHBOARD_ADMIN_PASSWORD", "")
        user = User.objects.filter(username=ADMIN_USERNAME).first()
        out: dict = {"username": ADMIN_USERNAME}
        if user is None:
            password = env_password or secrets.token_urlsafe(12)
            user = User.objects.create_superuser(ADMIN_USERNAME, "", password)
            self.created.append("adminUser")
            if not env_password:
                out["password"] = password
        elif self.rotate:
            password = env_password or secrets.token_urlsafe(12)
            user.set_password(password)
            user.save(update_fields=["password"])
            if not env_password:
                out["password"] = password
        Membership.objects.get_or_create(user=user, workspace=workspace, defaults={"role": Role.ADMIN})
        out["id"] = user.pk
        return out

    def access_key(self, workspace: Workspace, role: Role) -> dict:
        key = AccessKey.objects.filter(workspace=workspace, name=KEY_NAMES[role]).first()
        if key is None:
            key, plaintext = create_access_key(workspace, role, KEY_NAMES[role])
            self.created.append(f"accessKeys.{role.value}")
            return {"id": str(key.id), "key": plaintext}
        if self.rotate:
            return {"id": str(key.id), "key": self.reissue(key)}
        return {"id": str(key.id)}

    def sandbox_channel(self, workspace: Workspace) -> dict:
        return self.channel(workspace, SANDBOX_SMS, "sms", Connector.SANDBOX, {"latency_ms": 200, "failure_rate": 0.0})

    def email_channel(self, workspace: Workspace) -> dict:
        return self.channel(workspace, EMAIL, "email", Connector.SMTP, email_channel_settings())

    def engine_channel(self, workspace: Workspace) -> dict:
        out = self.channel(workspace, ENGINE_SMS, "sms", Connector.ENGINE, {})
        channel = Channel.objects.get(pk=out["id"])
        endpoint = MessagingEndpoint.objects.filter(channel=channel).order_by("created_at").first()
        if endpoint is None:
            endpoint, token = create_endpoint(channel, ENDPOINT)
            self.created.append("channels.engine.endpoint")
            out.update(endpointId=str(endpoint.id), endpointToken=token)
        elif "endpointToken" not in out:
            out["endpointId"] = str(endpoint.id)
            if self.rotate:
                out["endpointToken"] = self.reissue(endpoint)
        return out

    def channel(self, workspace: Workspace, name: str, platform: str, connector: str, values: dict) -> dict:
        channel = Channel.objects.filter(workspace=workspace, name=name).first()
        if channel is None:
            channel, secret_values = create_channel(workspace, platform, connector, name, settings_values=values)
            self.created.append(f"channels.{name}")
            return {"id": str(channel.id), **secret_values}
        out = {"id": str(channel.id)}
        if self.rotate and connector in (Connector.SANDBOX, Connector.WEBHOOK):
            # The inbound secret is derived from the salt: a new salt is a new secret.
            channel.inbound_salt = new_salt()
            channel.save(update_fields=["inbound_salt", "updated_at"])
            out["inboundSecret"] = channel.inbound_secret
        return out

    def service(self, workspace: Workspace) -> dict:
        service = Service.objects.filter(workspace=workspace, name=SERVICE).first()
        if service is None:
            # Two SMS channels exist, so the sandbox one is named explicitly.
            channel_map = {
                "sms": str(Channel.objects.get(workspace=workspace, name=SANDBOX_SMS).id),
                "email": str(Channel.objects.get(workspace=workspace, name=EMAIL).id),
            }
            service, key = create_service(workspace, SERVICE, channel_map=channel_map)
            self.created.append("service")
            return {"id": str(service.id), "key": key}
        if self.rotate:
            return {"id": str(service.id), "key": self.reissue(service)}
        return {"id": str(service.id)}

    def app_user(self, workspace: Workspace) -> dict:
        user = AppUser.objects.filter(workspace=workspace, username=APP_USER).first()
        if user is None:
            password = secrets.token_urlsafe(9)
            msisdn = "" if AppUser.objects.filter(workspace=workspace, msisdn=APP_USER_MSISDN).exists() else APP_USER_MSISDN
            user = create_app_user(workspace, APP_USER, password, msisdn)
            self.created.append("appUser")
            return {"id": user.id, "username": APP_USER, "password": password}
        out = {"id": user.id, "username": APP_USER}
        if self.rotate:
            out["password"] = secrets.token_urlsafe(9)
            user.set_password(out["password"])
            user.save(update_fields=["password"])
        return out

    @staticmethod
    def reissue(obj) -> str:
        token = obj.set_token()
        obj.save(update_fields=["token_prefix", "token_hash"])
        return token

    # --- output -------------------------------------------------------------------------

    def lines(self, result: dict) -> list[str]:
        lines = ["Switchboard demo data" + (" (secrets rotated)" if self.rotate else "")]
        lines.append(f"  workspace {result['workspace']['name']}: {result['workspace']['id']}")
        admin = result["adminUser"]
        lines.append(f"  portal login: {admin['username']}" + (f" / {admin['password']}" if "password" in admin else ""))
        for role, key in result["accessKeys"].items():
            lines.append(f"  {role} access key: {key['id']}" + (f"  key={key['key']}" if "key" in key else ""))
        for label, channel in result["channels"].items():
            extra = "".join(f"  {k}={v}" for k, v in channel.items() if k != "id")
            lines.append(f"  {label} channel: {channel['id']}{extra}")
        service = result["service"]
        lines.append(f"  service: {service['id']}" + (f"  key={service['key']}" if "key" in service else ""))
        app = result["appUser"]
        lines.append(f"  app user {app['username']}: {app['id']}" + (f"  password={app['password']}" if "password" in app else ""))
        if self.created:
            lines.append(f"Created: {', '.join(self.created)}. Store the secrets now: they are not shown again.")
        else:
            lines.append("Nothing new created" + (" (secrets rotated)." if self.rotate else "; secrets are not shown again."))
        return lines
