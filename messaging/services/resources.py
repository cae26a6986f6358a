"""Write path of the canonical API's management resources (SPEC §3.1): channels, tags,
templates, smart links and webhook subscriptions. (Contacts live in services/contacts.py.)

Views validate the shape of a request with serializers and call one function here; the
functions check what needs the database (uniqueness, SSRF, connector settings), write, and
raise DomainErrors naming the field in the API's camelCase. Uniqueness is checked up front
for a clear message and again by the database constraint, so a race still ends in a 409.
"""

import re
from collections.abc import Callable
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max, QuerySet

from messaging.errors import Conflict, ValidationFailed
from messaging.models import (
    PLATFORMS,
    Channel,
    Connector,
    MessagingEndpoint,
    SmartLink,
    Tag,
    Template,
    TemplateVersion,
    WebhookSubscription,
    Workspace,
)
from messaging.outbound import UnsafeURL, check_url

# Settings keys whose values are secrets: never shown back (viewers can read channels).
SECRET_SETTING_WORDS = ("password", "secret", "token", "apikey", "api_key")
MASK = "********"

# The same placeholder syntax the send path substitutes (messaging/services/templates.py).
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_.\-]+)\s*\}\}")
# Content keys besides platforms: "default" is used by sends on a platform with no block of its own.
EXTRA_CONTENT_KEYS = ("default",)


def _conflict(field: str, problem: str) -> Conflict:
    return Conflict(f"{field}: {problem}", {field: [problem]})


def _unique_write(field: str, problem: str, write: Callable[[], Any]) -> Any:
    """Run `write` in a savepoint; a unique-constraint race becomes a 409 naming `field`."""
    try:
        with transaction.atomic():
            return write()
    except IntegrityError:
        raise _conflict(field, problem) from None


def _save_unique(obj: Any, field: str, problem: str) -> Any:
    """Save an edited `obj`; a unique-constraint race becomes a 409 naming `field`."""

    def write() -> Any:
        obj.save()
        return obj

    return _unique_write(field, problem, write)


def _check_free(clashing: QuerySet, field: str, problem: str, exclude_pk=None) -> None:
    """409 naming `field` up front when a row of `clashing` (other than `exclude_pk`) exists."""
    if exclude_pk is not None:
        clashing = clashing.exclude(pk=exclude_pk)
    if clashing.exists():
        raise _conflict(field, problem)


# --- channels ----------------------------------------------------------------------------


def _is_secret_key(key: str) -> bool:
    lowered = key.lower()
    return any(word in lowered for word in SECRET_SETTING_WORDS)


def masked_settings(settings: dict) -> dict:
    """Channel settings as the API shows them: secret values replaced by a mask."""
    return {
        k: (MASK if _is_secret_key(k) and v not in (None, "") else v) for k, v in (settings or {}).items()
    }


def validate_channel_settings(connector: str, settings: dict) -> dict:
    """Connector-specific checks; a webhook channel's target URL must pass the SSRF rule."""
    from messaging.connectors import connector_class

    try:
        cls = connector_class(connector)
    except ImportError:
        cls = None  # connector module not installed yet: any JSON object is accepted
    if cls is not None:
        try:
            settings = cls.validate_settings(settings)
        except ValueError as exc:
            message = str(exc)
            head = message.split(" ", 1)[0]
            field = head if head.startswith("settings.") else "settings"
            raise ValidationFailed.field(field, message) from None
    if connector == Connector.WEBHOOK:
        url = settings.get("url")
        if not isinstance(url, str) or not url:
            raise ValidationFailed.field("settings.url", "is required for a webhook channel")
        check_webhook_url(url, "settings.url")
    return settings


def _check_channel_name(workspace: Workspace, name: str, exclude_pk=None) -> None:
    _check_free(
        Channel.objects.filter(workspace=workspace, name=name),
        "name",
        f"a channel named {name!r} already exists in this workspace",
        exclude_pk,
    )


def create_channel(workspace: Workspace, **fields) -> tuple[Channel, dict]:
    """A new channel and its one-time secrets ({"inboundSecret"} / {"endpointId", "endpointToken"})."""
    _check_channel_name(workspace, fields["name"])
    fields["settings"] = validate_channel_settings(fields["connector"], fields.get("settings") or {})

    def write() -> tuple[Channel, dict]:
        channel = Channel.objects.create(workspace=workspace, **fields)
        extras: dict = {}
        if channel.connector in (Connector.SANDBOX, Connector.WEBHOOK):
            extras["inboundSecret"] = channel.inbound_secret
        if channel.connector == Connector.ENGINE:
            endpoint = MessagingEndpoint(channel=channel, name="device 1")
            extras["endpointToken"] = endpoint.set_token()
            endpoint.save()
            extras["endpointId"] = str(endpoint.id)
        return channel, extras

    return _unique_write(
        "name", f"a channel named {fields['name']!r} already exists in this workspace", write
    )


def update_channel(channel: Channel, **fields) -> Channel:
    for fixed in ("platform", "connector"):
        if fixed in fields and fields.pop(fixed) != getattr(channel, fixed):
            raise ValidationFailed.field(
                fixed, "cannot be changed after creation; create a new channel instead"
            )
    if "name" in fields:
        _check_channel_name(channel.workspace, fields["name"], exclude_pk=channel.pk)
    if "settings" in fields:
        # A masked value sent back unchanged keeps the stored secret.
        incoming = {
            k: (channel.settings.get(k) if v == MASK and _is_secret_key(k) else v)
            for k, v in fields["settings"].items()
        }
        fields["settings"] = validate_channel_settings(channel.connector, incoming)
    for name, value in fields.items():
        setattr(channel, name, value)
    return _save_unique(channel, "name", "a channel with this name already exists in this workspace")


def delete_channel(channel: Channel) -> None:
    # Message.channel is PROTECT: the history of what was sent must not vanish.
    if channel.messages.exists():
        raise Conflict(
            "This channel has messages and cannot be deleted; set its status to inactive instead.",
            {"channel": ["has messages"]},
        )
    channel.delete()


# --- tags ----------------------------------------------------------------------------------


def _check_tag_name(workspace: Workspace, name: str, exclude_pk=None) -> None:
    _check_free(
        Tag.objects.filter(workspace=workspace, name=name),
        "name",
        f"a tag named {name!r} already exists in this workspace",
        exclude_pk,
    )


def create_tag(workspace: Workspace, name: str) -> Tag:
    name = name.strip().lower()
    _check_tag_name(workspace, name)
    return _unique_write(
        "name",
        f"a tag named {name!r} already exists",
        lambda: Tag.objects.create(workspace=workspace, name=name),
    )


def update_tag(tag: Tag, name: str | None = None) -> Tag:
    if name is not None:
        name = name.strip().lower()
        _check_tag_name(tag.workspace, name, exclude_pk=tag.pk)
        tag.name = name
    return _save_unique(tag, "name", "a tag with this name already exists")


def delete_tag(tag: Tag) -> None:
    tag.delete()  # messages keep their other tags; the link rows go with the tag


# --- templates ------------------------------------------------------------------------------


def template_variables(content: dict) -> list[str]:
    """The `{{placeholder}}` names of a template's content, in order of first appearance."""
    seen: dict[str, None] = {}
    for block in (content or {}).values():
        if isinstance(block, dict):
            for text in block.values():
                if isinstance(text, str):
                    for match in PLACEHOLDER.finditer(text):
                        seen.setdefault(match.group(1), None)
    return list(seen)


def validate_template_content(content: Any) -> dict:
    if not isinstance(content, dict) or not content:
        raise ValidationFailed.field(
            "content", 'must be an object of platforms, e.g. {"sms": {"text": "Hi {{name}}"}}'
        )
    for platform, block in content.items():
        if platform not in PLATFORMS and platform not in EXTRA_CONTENT_KEYS:
            raise ValidationFailed.field(
                f"content.{platform}", f"is not a platform (one of {', '.join(PLATFORMS)}) or 'default'"
            )
        if not isinstance(block, dict) or not block:
            raise ValidationFailed.field(
                f"content.{platform}", 'must be an object of strings, e.g. {"text": "..."}'
            )
        for part, text in block.items():
            if not isinstance(text, str):
                raise ValidationFailed.field(f"content.{platform}.{part}", "must be a string")
    return content


def _check_template_name(workspace: Workspace, name: str, locale: str, exclude_pk=None) -> None:
    _check_free(
        Template.objects.filter(workspace=workspace, name=name, locale=locale),
        "name",
        f"a template named {name!r} with locale {locale!r} already exists",
        exclude_pk,
    )


def create_template(workspace: Workspace, name: str, content: Any, locale: str = "en") -> Template:
    content = validate_template_content(content)
    _check_template_name(workspace, name, locale)

    def write() -> Template:
        template = Template.objects.create(
            workspace=workspace, name=name, locale=locale, content=content, version=1
        )
        TemplateVersion.objects.create(template=template, version=1, content=content)
        return template

    return _unique_write("name", f"a template named {name!r} with locale {locale!r} already exists", write)


def update_template(template: Template, **fields) -> Template:
    """Any real change of name, locale or content makes a new version; older ones stay readable."""
    if "content" in fields:
        fields["content"] = validate_template_content(fields["content"])
    changed = {k: v for k, v in fields.items() if getattr(template, k) != v}
    if not changed:
        return template
    if "name" in changed or "locale" in changed:
        _check_template_name(
            template.workspace,
            changed.get("name", template.name),
            changed.get("locale", template.locale),
            template.pk,
        )

    def write() -> Template:
        # Lock the row so two concurrent edits cannot both become version N+1.
        current = Template.objects.select_for_update().get(pk=template.pk)
        for name, value in changed.items():
            setattr(current, name, value)
        current.version += 1
        current.save()
        TemplateVersion.objects.create(template=current, version=current.version, content=current.content)
        return current

    return _unique_write("name", "a template with this name and locale already exists", write)


def delete_template(template: Template) -> None:
    template.delete()  # messages keep their template block (template_info); the FK is SET_NULL


# --- smart links ---------------------------------------------------------------------------


def _check_linkid(workspace: Workspace, linkid: int, exclude_pk=None) -> None:
    _check_free(
        SmartLink.objects.filter(workspace=workspace, linkid=linkid),
        "linkid",
        f"smart link {linkid} already exists in this workspace",
        exclude_pk,
    )


def create_smartlink(workspace: Workspace, url: str, linkid: int | None = None, **fields) -> SmartLink:
    if linkid is not None:
        _check_linkid(workspace, linkid)
        return _unique_write(
            "linkid",
            f"smart link {linkid} already exists in this workspace",
            lambda: SmartLink.objects.create(workspace=workspace, linkid=linkid, url=url, **fields),
        )
    # Assigned as max + 1; two concurrent creates may pick the same number, so retry.
    for _ in range(5):
        top = SmartLink.objects.filter(workspace=workspace).aggregate(top=Max("linkid"))["top"] or 0
        try:
            with transaction.atomic():
                return SmartLink.objects.create(workspace=workspace, linkid=top + 1, url=url, **fields)
        except IntegrityError:
            continue
    raise _conflict("linkid", "could not assign a free linkid; try again or give one")


def update_smartlink(smartlink: SmartLink, **fields) -> SmartLink:
    if "linkid" in fields and fields["linkid"] != smartlink.linkid:
        _check_linkid(smartlink.workspace, fields["linkid"], exclude_pk=smartlink.pk)
    for name, value in fields.items():
        setattr(smartlink, name, value)
    return _save_unique(smartlink, "linkid", "this linkid is taken in this workspace")


def delete_smartlink(smartlink: SmartLink) -> None:
    # Short links already sent keep their own target and expiry (ShortLink.smartlink SET_NULL).
    smartlink.delete()


# --- webhook subscriptions -------------------------------------------------------------------

DIRECTIONS = ("outbound", "inbound")


def validate_events(events: list[str]) -> list[str]:
    if not events:
        raise ValidationFailed.field("events", "must name at least one event, e.g. sms.outbound")
    out: list[str] = []
    for index, event in enumerate(events):
        platform, dot, direction = str(event).partition(".")
        if not dot or direction not in DIRECTIONS or (platform != "*" and platform not in PLATFORMS):
            raise ValidationFailed.field(
                f"events[{index}]",
                f"{event!r} is not '<platform>.outbound' or '<platform>.inbound' "
                f"(platform one of {', '.join(PLATFORMS)} or *)",
            )
        if event not in out:
            out.append(event)
    return out


def check_webhook_url(url: str, field: str = "url") -> None:
    try:
        check_url(url)
    except UnsafeURL as exc:
        raise ValidationFailed.field(field, str(exc)) from None


def create_webhook_subscription(workspace: Workspace, url: str, events: list[str], active: bool = True):
    check_webhook_url(url)
    events = validate_events(events)
    return WebhookSubscription.objects.create(workspace=workspace, url=url, events=events, active=active)


def update_webhook_subscription(subscription: WebhookSubscription, **fields) -> WebhookSubscription:
    if "url" in fields:
        check_webhook_url(fields["url"])
    if "events" in fields:
        fields["events"] = validate_events(fields["events"])
    if fields.get("active") is True:
        subscription.disabled_reason = ""  # switched back on by a person: forget why it was off
    for name, value in fields.items():
        setattr(subscription, name, value)
    subscription.save()
    return subscription


def delete_webhook_subscription(subscription: WebhookSubscription) -> None:
    subscription.delete()
