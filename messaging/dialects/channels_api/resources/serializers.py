"""Request/response shapes of the management resources (SPEC §3.1), in camelCase.

Serializers only check shape and types; rules that need the database or another object
(uniqueness, SSRF, connector settings, template content) are in the services. Bodies are
strict: a field this resource does not have, or a read-only one, is a 422 naming it, so a
typo like `displayname` is caught instead of silently ignored.
"""

from collections.abc import Mapping
from urllib.parse import urlparse

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from messaging.models import PLATFORMS, Connector, IdentifierKey, MessageType
from messaging.services.resources import masked_settings, template_variables


class StrictSerializer(serializers.Serializer):
    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            problems = {}
            for key in data:
                field = self.fields.get(key)
                if field is None:
                    problems[key] = [
                        f"is not a field of this resource (fields: {', '.join(self._writable())})"
                    ]
                elif field.read_only:
                    problems[key] = ["is read-only"]
            if problems:
                raise serializers.ValidationError(problems)
        return super().to_internal_value(data)

    def _writable(self) -> list[str]:
        return [name for name, field in self.fields.items() if not field.read_only]


class StringField(serializers.CharField):
    """A CharField that refuses numbers and booleans instead of quietly turning them into text."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


def http_url(value: str) -> str:
    if urlparse(value).scheme not in ("http", "https"):
        raise serializers.ValidationError("must be an http or https URL")
    return value


class PageTokenMixin(serializers.Serializer):
    nextPageToken = serializers.CharField(
        required=False, help_text="Pass as pageToken for the next page; absent on the last page"
    )


def page_serializer(item: type[serializers.Serializer], name: str) -> type[serializers.Serializer]:
    """The list envelope {"results": [...], "nextPageToken"} for the OpenAPI schema."""
    return type(name, (PageTokenMixin,), {"results": item(many=True)})


# --- channels ----------------------------------------------------------------------------


@extend_schema_field({"type": "object", "additionalProperties": True})
class SettingsField(serializers.DictField):
    """Connector settings; secret values (passwords, tokens) are shown masked."""

    def to_representation(self, value):
        return masked_settings(value)


class ChannelSerializer(StrictSerializer):
    id = serializers.UUIDField(read_only=True)
    name = StringField(max_length=200)
    platform = serializers.ChoiceField(choices=PLATFORMS, help_text="Fixed at creation")
    connector = serializers.ChoiceField(choices=Connector.choices, help_text="Fixed at creation")
    messageType = serializers.ChoiceField(source="message_type", choices=MessageType.choices, required=False)
    status = serializers.ChoiceField(choices=["active", "inactive"], required=False)
    settings = SettingsField(
        required=False,
        help_text="Connector settings, e.g. {'url': ...} for webhook; secret values are shown as ********",
    )
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)
    updatedAt = serializers.DateTimeField(source="updated_at", read_only=True)


class ChannelCreatedSerializer(ChannelSerializer):
    inboundSecret = serializers.CharField(
        read_only=True,
        required=False,
        help_text="sandbox/webhook channels: signs inbound hooks; shown only now",
    )
    endpointId = serializers.UUIDField(
        read_only=True, required=False, help_text="engine channels: the first device"
    )
    endpointToken = serializers.CharField(
        read_only=True, required=False, help_text="engine channels: the first device's token; shown only now"
    )


# --- contacts ----------------------------------------------------------------------------


class IdentifierSerializer(StrictSerializer):
    key = serializers.ChoiceField(choices=IdentifierKey.choices)
    value = serializers.CharField(
        max_length=320, help_text="Phone numbers are stored in E.164, emails lower-cased"
    )


class ContactSerializer(StrictSerializer):
    id = serializers.UUIDField(read_only=True)
    displayName = StringField(source="display_name", max_length=200, required=False, allow_blank=True)
    identifiers = IdentifierSerializer(many=True, required=False, help_text="PATCH replaces the whole list")
    attributes = serializers.DictField(required=False)
    optOuts = serializers.ListField(
        source="opt_outs", child=serializers.ChoiceField(choices=PLATFORMS), required=False
    )
    globalHoldout = serializers.BooleanField(source="global_holdout", required=False)
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)
    updatedAt = serializers.DateTimeField(source="updated_at", read_only=True)

    def validate_optOuts(self, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))


# --- tags ----------------------------------------------------------------------------------


class TagSerializer(StrictSerializer):
    id = serializers.IntegerField(read_only=True)
    name = StringField(max_length=100, help_text="Stored lower-case")
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)


# --- templates -----------------------------------------------------------------------------


class TemplateSerializer(StrictSerializer):
    id = serializers.UUIDField(read_only=True)
    name = StringField(max_length=200)
    locale = StringField(max_length=20, required=False)
    version = serializers.IntegerField(read_only=True, help_text="1 at creation; +1 on every change")
    content = serializers.DictField(
        child=serializers.DictField(child=StringField(allow_blank=True)),
        help_text='Per platform: {"sms": {"text": "Hi {{name}}"}, "email": {"subject", "text", "html"}}',
    )
    variables = serializers.SerializerMethodField(help_text="The {{placeholders}} used in the content")
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)
    updatedAt = serializers.DateTimeField(source="updated_at", read_only=True)

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_variables(self, template) -> list[str]:
        return template_variables(template.content)


# --- smart links -----------------------------------------------------------------------------


class SmartLinkSerializer(StrictSerializer):
    id = serializers.IntegerField(read_only=True)
    linkid = serializers.IntegerField(
        min_value=1, max_value=2**62, required=False, help_text="Assigned (highest + 1) when not given"
    )
    url = serializers.URLField(max_length=2000, validators=[http_url])
    validity = serializers.IntegerField(min_value=1, required=False, help_text="Minutes; default 1440")
    active = serializers.BooleanField(required=False)
    clicks = serializers.IntegerField(source="click_count", read_only=True, default=0)
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)


class ClickSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    userAgent = serializers.CharField(source="user_agent")
    code = serializers.CharField(source="short_link.code")
    messageId = serializers.UUIDField(source="short_link.message_id", allow_null=True)
    contactId = serializers.UUIDField(source="short_link.contact_id", allow_null=True)


# --- webhook subscriptions ----------------------------------------------------------------------


class WebhookSubscriptionSerializer(StrictSerializer):
    id = serializers.UUIDField(read_only=True)
    url = serializers.URLField(max_length=2000)
    events = serializers.ListField(
        child=StringField(), help_text="'<platform>.outbound' or '<platform>.inbound'; platform may be *"
    )
    active = serializers.BooleanField(required=False)
    disabledReason = serializers.CharField(source="disabled_reason", read_only=True)
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)


class WebhookSubscriptionCreatedSerializer(WebhookSubscriptionSerializer):
    signingKey = serializers.CharField(
        read_only=True, help_text="whsec_...; verifies our signatures; shown only now"
    )


class AttemptSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    webhookId = serializers.CharField(source="webhook_id")
    eventType = serializers.CharField(source="event_type")
    url = serializers.CharField()
    attempt = serializers.IntegerField()
    statusCode = serializers.IntegerField(source="status_code", allow_null=True)
    durationMs = serializers.IntegerField(source="duration_ms", allow_null=True)
    responseExcerpt = serializers.CharField(source="response_excerpt")
    error = serializers.CharField()
    succeeded = serializers.BooleanField()
    at = serializers.DateTimeField()
