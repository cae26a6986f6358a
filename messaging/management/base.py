"""Shared helpers of Switchboard's management commands (SPEC §6).

Every command prints one result: with `--json` exactly one JSON object on stdout and
nothing else there (logs and progress go to stderr), otherwise readable `key: value`
lines. Bad input raises CommandError naming the flag, which Django prints on stderr with
exit status 1.

The provisioning functions below (create_workspace, create_channel, ...) are shared by
the single-purpose commands and by `bootstrap`, so both validate the same way.
"""

import json
import uuid
import zoneinfo
from collections.abc import Iterable

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import URLValidator

from messaging.errors import DomainError
from messaging.models import (
    PLATFORMS,
    AccessKey,
    AppUser,
    Channel,
    Connector,
    MessageType,
    MessagingEndpoint,
    Role,
    Service,
    Workspace,
)
from messaging.outbound import UnsafeURL, check_url
from messaging.services import resources
from messaging.services.identifiers import normalize_phone

# --- output -----------------------------------------------------------------------------


class SwitchboardCommand(BaseCommand):
    """A command whose result is one dict, printed as JSON (`--json`) or as lines."""

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.add_argument(
            "--json", action="store_true", help="Print exactly one JSON object on stdout and nothing else there."
        )
        return parser

    def emit(self, options: dict, payload: dict, lines: Iterable[str] | None = None) -> None:
        if options.get("json"):
            self.stdout.write(json.dumps(payload, default=str))
            return
        for line in lines if lines is not None else human_lines(payload):
            self.stdout.write(line)


def human_lines(payload: dict, prefix: str = "") -> list[str]:
    """`key: value` lines for a (nested) result dict."""
    lines = []
    for key, value in payload.items():
        if isinstance(value, dict):
            lines.extend(human_lines(value, f"{prefix}{key}."))
        elif isinstance(value, list):
            lines.append(f"{prefix}{key}: {', '.join(str(v) for v in value) or '-'}")
        else:
            lines.append(f"{prefix}{key}: {value}")
    return lines


# --- argument parsing and lookups ---------------------------------------------------------


def parse_uuid(value: str, flag: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise CommandError(f"{flag}: {value!r} is not an id (expected a UUID)") from None


def get_workspace(value: str, flag: str = "--workspace") -> Workspace:
    workspace = Workspace.objects.filter(pk=parse_uuid(value, flag)).first()
    if workspace is None:
        raise CommandError(f"{flag}: no workspace with id {value}")
    return workspace


def get_channel(value: str, flag: str = "--channel", workspace: Workspace | None = None) -> Channel:
    qs = Channel.objects.select_related("workspace")
    if workspace is not None:
        qs = qs.filter(workspace=workspace)
    channel = qs.filter(pk=parse_uuid(value, flag)).first()
    if channel is None:
        where = f" in workspace {workspace.name!r}" if workspace is not None else ""
        raise CommandError(f"{flag}: no channel with id {value}{where}")
    return channel


def parse_pairs(values: Iterable[str] | None, flag: str) -> dict[str, str]:
    """KEY=VALUE arguments (repeatable flags) as a dict; a later key wins."""
    pairs: dict[str, str] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise CommandError(f"{flag}: {item!r} is not KEY=VALUE")
        pairs[key.strip()] = value
    return pairs


def check_public_url(value: str, flag: str) -> str:
    """An http(s) URL that the SSRF guard accepts (checked again at send time)."""
    try:
        URLValidator(schemes=["http", "https"])(value)
        check_url(value)
    except ValidationError:
        raise CommandError(f"{flag}: {value!r} is not an http or https URL") from None
    except UnsafeURL as exc:
        raise CommandError(f"{flag}: {value!r} {exc}") from None
    return value


# API field → command-line flag, for service errors (DomainError.details keys).
FIELD_FLAGS = {
    "name": "--name",
    "platform": "--platform",
    "connector": "--connector",
    "messageType": "--message-type",
    "settings": "--setting",
}


def command_error(exc: DomainError) -> CommandError:
    """A service's DomainError as a CommandError that names the flag."""
    problems = []
    for field_name, messages in (exc.details or {}).items():
        if field_name.startswith("settings."):
            flag = f"--setting {field_name.split('.', 1)[1]}"
        else:
            flag = FIELD_FLAGS.get(field_name, field_name)
        problems.extend(f"{flag}: {message}" for message in messages)
    return CommandError("; ".join(problems) or exc.message)


# --- provisioning ---------------------------------------------------------------------------


def create_workspace(name: str, timezone: str = "UTC", region: str = "US") -> Workspace:
    name = (name or "").strip()
    if not name:
        raise CommandError("--name: may not be blank")
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise CommandError(f"--timezone: {timezone!r} is not an IANA time zone (e.g. Europe/Berlin)") from None
    region = (region or "").upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise CommandError(f"--region: {region!r} is not a phone region (ISO 3166 code such as US, DE, GB)")
    if Workspace.objects.filter(name=name).exists():
        raise CommandError(f"--name: a workspace named {name!r} already exists")
    return Workspace.objects.create(name=name, timezone=timezone, default_region=region)


def create_access_key(workspace: Workspace, role: str, name: str) -> tuple[AccessKey, str]:
    if role not in Role.values:
        raise CommandError(f"--role: {role!r} is not one of {', '.join(Role.values)}")
    key = AccessKey(workspace=workspace, role=role, name=name or f"{role} key")
    plaintext = key.set_token()
    key.save()
    return key, plaintext


# Settings whose values are numbers; everything else stays a string (an SMTP password of
# digits must not turn into an int).
_INT_SETTINGS = {"port", "latency_ms", "timeout"}
_FLOAT_SETTINGS = {"failure_rate"}


def channel_settings(connector: str, raw: dict[str, str], flag: str = "--setting") -> dict:
    """Coerce and check a channel's connector settings; CommandError naming the key."""
    values: dict = {}
    for key, value in raw.items():
        try:
            if key in _INT_SETTINGS:
                values[key] = int(value)
            elif key in _FLOAT_SETTINGS:
                values[key] = float(value)
            else:
                values[key] = value
        except ValueError:
            raise CommandError(f"{flag} {key}: {value!r} is not a number") from None
    if "port" in values and not 1 <= values["port"] <= 65535:
        raise CommandError(f"{flag} port: {values['port']} is not a port (1-65535)")
    if "latency_ms" in values and values["latency_ms"] < 0:
        raise CommandError(f"{flag} latency_ms: must be 0 or more")
    if "failure_rate" in values and not 0 <= values["failure_rate"] <= 1:
        raise CommandError(f"{flag} failure_rate: must be between 0 and 1")
    return values


def create_channel(
    workspace: Workspace,
    platform: str,
    connector: str,
    name: str = "",
    message_type: str = MessageType.TRANSACTIONAL,
    settings_values: dict | None = None,
) -> tuple[Channel, dict]:
    """A channel plus the secrets to hand out once: endpointToken / inboundSecret."""
    platform = (platform or "").strip().lower()
    if platform not in PLATFORMS:
        raise CommandError(f"--platform: {platform!r} is not one of {', '.join(PLATFORMS)}")
    if connector not in Connector.values:
        raise CommandError(f"--connector: {connector!r} is not one of {', '.join(Connector.values)}")
    if message_type not in MessageType.values:
        raise CommandError(f"--message-type: {message_type!r} is not one of {', '.join(MessageType.values)}")
    name = (name or "").strip() or f"{platform} ({connector})"
    try:
        return resources.create_channel(
            workspace,
            name=name,
            platform=platform,
            connector=connector,
            message_type=message_type,
            settings=settings_values or {},
        )
    except DomainError as exc:
        raise command_error(exc) from None


def create_endpoint(channel: Channel, name: str) -> tuple[MessagingEndpoint, str]:
    if channel.connector != Connector.ENGINE:
        raise CommandError(f"--channel: channel {channel.id} uses the {channel.connector} connector, not engine")
    name = (name or "").strip()
    if not name:
        raise CommandError("--name: may not be blank")
    if MessagingEndpoint.objects.filter(channel=channel, name=name).exists():
        raise CommandError(f"--name: the channel already has an endpoint named {name!r}")
    endpoint = MessagingEndpoint(channel=channel, name=name)
    token = endpoint.set_token()
    endpoint.save()
    return endpoint, token


def service_channel_map(workspace: Workspace, explicit: dict[str, str], flag: str = "--channel") -> dict[str, str]:
    """platform → channel id: the given pairs, plus each platform's only active channel."""
    mapping: dict[str, str] = {}
    for platform, channel_id in explicit.items():
        platform = platform.strip().lower()
        if platform not in PLATFORMS:
            raise CommandError(f"{flag}: {platform!r} is not one of {', '.join(PLATFORMS)}")
        channel = get_channel(channel_id, flag, workspace)
        if channel.platform != platform:
            raise CommandError(f"{flag}: channel {channel.id} is a {channel.platform} channel, not {platform}")
        mapping[platform] = str(channel.id)
    by_platform: dict[str, list[str]] = {}
    for channel_id, platform in Channel.objects.filter(workspace=workspace, status="active").values_list(
        "id", "platform"
    ):
        by_platform.setdefault(platform, []).append(str(channel_id))
    for platform, ids in by_platform.items():
        if platform not in mapping and len(ids) == 1:
            mapping[platform] = ids[0]
    return mapping


def create_service(
    workspace: Workspace,
    name: str,
    notify_url: str = "",
    active: bool = True,
    channel_map: dict[str, str] | None = None,
) -> tuple[Service, str]:
    name = (name or "").strip()
    if not name:
        raise CommandError("--name: may not be blank")
    if Service.objects.filter(workspace=workspace, name=name).exists():
        raise CommandError(f"--name: the workspace already has a service named {name!r}")
    if notify_url:
        check_public_url(notify_url, "--notify-url")
    service = Service(
        workspace=workspace, name=name, notify_url=notify_url, active=active, channel_map=channel_map or {}
    )
    key = service.set_token()
    service.save()
    return service, key


def create_app_user(workspace: Workspace, username: str, password: str, msisdn: str = "") -> AppUser:
    username = (username or "").strip()
    if not username:
        raise CommandError("--username: may not be blank")
    if len(username) > 150:
        raise CommandError("--username: is longer than 150 characters")
    if not password:
        raise CommandError("--password: may not be blank")
    if AppUser.objects.filter(workspace=workspace, username=username).exists():
        raise CommandError(f"--username: the workspace already has an app user named {username!r}")
    if msisdn:
        try:
            msisdn = normalize_phone(msisdn, workspace.default_region)
        except ValueError as exc:
            raise CommandError(f"--msisdn: {exc}") from None
        if AppUser.objects.filter(workspace=workspace, msisdn=msisdn).exists():
            raise CommandError(f"--msisdn: another app user of the workspace has {msisdn}")
    user = AppUser(workspace=workspace, username=username, msisdn=msisdn or "")
    user.set_password(password)
    user.save()
    return user


def email_channel_settings() -> dict:
    """SMTP settings of the demo email channel, from the project's EMAIL_* settings."""
    values: dict = {"host": settings.EMAIL_HOST, "port": settings.EMAIL_PORT, "from": settings.DEFAULT_FROM_EMAIL}
    if settings.EMAIL_HOST_USER:
        values["username"] = settings.EMAIL_HOST_USER
    if settings.EMAIL_HOST_PASSWORD:
        values["password"] = settings.EMAIL_HOST_PASSWORD
    return values
