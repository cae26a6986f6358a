"""Serializers of the messages API (SPEC §3.1, seed 001).

Request serializers check the shape (types, required keys, lengths) so the schema
documents it and a malformed request fails early with the field named; the business rules
(receivers per platform, templates, schedule window, tags, capFrequency) live in
messaging.services.send, which every dialect shares. Field names are the API's camelCase.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from messaging.dialects.channels_api.pagination import PageSerializer
from messaging.models import Direction, IdentifierKey, Status
from messaging.services import send, smartlinks


def validated(serializer: serializers.Serializer) -> dict:
    """validated_data, or a ValidationError the error handler names like `receiver.contacts[0].id`."""
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


# --- request ----------------------------------------------------------------------------


class ReceiverContactSerializer(serializers.Serializer):
    id = serializers.UUIDField(required=False, help_text="Id of an existing contact of the workspace")
    identifierKey = serializers.ChoiceField(choices=IdentifierKey.values, required=False)
    identifierValue = serializers.CharField(required=False, max_length=320, help_text="e.g. +15551234567")

    def validate(self, attrs: dict) -> dict:
        if not attrs.get("id") and not (attrs.get("identifierKey") and attrs.get("identifierValue")):
            raise serializers.ValidationError({"identifierKey": ["give identifierKey and identifierValue, or id"]})
        return attrs


class ReceiverSerializer(serializers.Serializer):
    contacts = ReceiverContactSerializer(
        many=True,
        allow_empty=False,
        help_text="One receiver; several only on the email platform",
    )


class SubjectSerializer(serializers.Serializer):
    subject = serializers.CharField(max_length=998, allow_blank=True)


class TextBlockSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=send.MAX_TEXT, trim_whitespace=False)
    metadata = SubjectSerializer(required=False, help_text="Email only: the subject of a plain-text email")


class ImageSerializer(serializers.Serializer):
    mediaUrl = serializers.URLField(max_length=2000)
    altText = serializers.CharField(required=False, allow_blank=True, max_length=1000)


class ImageBlockSerializer(serializers.Serializer):
    images = ImageSerializer(many=True, allow_empty=False, max_length=send.MAX_ATTACHMENTS)
    text = serializers.CharField(required=False, allow_blank=True, max_length=send.MAX_TEXT, trim_whitespace=False)


class FileSerializer(serializers.Serializer):
    mediaUrl = serializers.URLField(max_length=2000)
    contentType = serializers.CharField(max_length=100)
    filename = serializers.CharField(max_length=255)


class FileBlockSerializer(serializers.Serializer):
    files = FileSerializer(many=True, allow_empty=False, max_length=send.MAX_ATTACHMENTS)


class HtmlBlockSerializer(serializers.Serializer):
    text = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    html = serializers.CharField(trim_whitespace=False)
    metadata = SubjectSerializer()


class BodySerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=send.BODY_TYPES)
    text = TextBlockSerializer(required=False)
    image = ImageBlockSerializer(required=False)
    file = FileBlockSerializer(required=False)
    html = HtmlBlockSerializer(required=False, help_text="Email platform only")

    def validate(self, attrs: dict) -> dict:
        kind = attrs["type"]
        if kind not in attrs:
            raise serializers.ValidationError({kind: [f"is required for a {kind} body"]})
        return attrs


class TemplateParameterSerializer(serializers.Serializer):
    type = serializers.CharField(required=False, default="string")
    key = serializers.CharField(max_length=200)
    value = serializers.CharField(allow_blank=True, trim_whitespace=False)


class ShortLinksSerializer(serializers.Serializer):
    enabled = serializers.BooleanField(required=False, default=False)
    domain = serializers.CharField(required=False, allow_blank=True, max_length=253)


class TemplateRefSerializer(serializers.Serializer):
    id = serializers.UUIDField(required=False)
    name = serializers.CharField(required=False, max_length=200)
    locale = serializers.CharField(required=False, max_length=20)
    version = serializers.IntegerField(required=False, min_value=1, help_text="The latest when absent")
    parameters = TemplateParameterSerializer(many=True, required=False)
    shortLinks = ShortLinksSerializer(required=False)

    def validate(self, attrs: dict) -> dict:
        if not attrs.get("id") and not attrs.get("name"):
            raise serializers.ValidationError({"id": ["give the template's id or name"]})
        return attrs


@extend_schema_field(OpenApiTypes.DATETIME)
class RFC3339Field(serializers.CharField):
    """Kept as text: the send service parses it (RFC 3339 with an offset) and names the field."""


class MessageRequestSerializer(serializers.Serializer):
    receiver = ReceiverSerializer()
    body = BodySerializer(required=False, help_text="Exactly one of body or template")
    template = TemplateRefSerializer(required=False)
    sender = serializers.DictField(required=False, help_text="Sender details (platform specific)")
    reference = serializers.CharField(required=False, allow_blank=True, max_length=send.MAX_REFERENCE)
    meta = serializers.DictField(required=False, help_text='{"extraInformation": {"useCase": "marketing"}}')
    tags = serializers.ListField(
        child=serializers.CharField(max_length=send.MAX_TAG_LENGTH), required=False, help_text="At most 10; lower-cased"
    )
    shortLinks = ShortLinksSerializer(required=False)
    enableLinkTracking = serializers.BooleanField(required=False)
    capFrequency = serializers.BooleanField(required=False, help_text="Only with meta.extraInformation.useCase marketing")
    ignoreQuietHours = serializers.BooleanField(required=False)
    ignoreGlobalHoldout = serializers.BooleanField(required=False)
    scheduledFor = RFC3339Field(required=False, allow_blank=True, help_text="RFC 3339; at most 35 days ahead")
    validity = serializers.IntegerField(required=False, min_value=1, max_value=send.MAX_VALIDITY, help_text="Seconds")
    priority = serializers.IntegerField(required=False, min_value=1, max_value=3, help_text="1 (high) to 3; default 2")

    def validate(self, attrs: dict) -> dict:
        if ("body" in attrs) == ("template" in attrs):
            problem = "give either body or template, not both" if "body" in attrs else "give a body or a template"
            raise serializers.ValidationError({"body": [problem]})
        return attrs


class BatchRequestSerializer(serializers.Serializer):
    messageRequests = MessageRequestSerializer(many=True, allow_empty=False, max_length=100)


class PresignRequestSerializer(serializers.Serializer):
    contentType = serializers.CharField(max_length=100, help_text="The media type of the file, e.g. image/png")


# --- response ------------------------------------------------------------------------------


class ReceiverOutContactSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    identifierKey = serializers.CharField(required=False)
    identifierValue = serializers.CharField(required=False)


class ReceiverOutSerializer(serializers.Serializer):
    contacts = ReceiverOutContactSerializer(many=True)


class TemplateInfoSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    locale = serializers.CharField()
    version = serializers.IntegerField()
    parameters = TemplateParameterSerializer(many=True)


@extend_schema_field(ReceiverOutSerializer)
class ReceiverField(serializers.JSONField):
    pass


@extend_schema_field(BodySerializer)
class BodyField(serializers.JSONField):
    pass


@extend_schema_field(ShortLinksSerializer(allow_null=True))
class ShortLinksField(serializers.JSONField):
    pass


def _inline_enum(values: list[str], description: str):
    """A string enum documented inline: a named enum component would collide with other
    resources' `status` fields in the schema."""

    @extend_schema_field({"type": "string", "enum": list(values), "description": description})
    class InlineEnumField(serializers.CharField):
        pass

    return InlineEnumField


MessageStatusField = _inline_enum(Status.values, "The message's status (SPEC §2 lifecycle)")
DirectionField = _inline_enum(Direction.values, "outgoing or incoming")


class MessageListSerializer(serializers.ListSerializer):
    """A page of messages: their click counts are read in one query, not one per message."""

    def to_representation(self, data):
        messages = list(data.all() if hasattr(data, "all") else data)
        counts = smartlinks.click_counts(m.id for m in messages)
        for message in messages:
            message._click_count = counts.get(message.id, 0)
        return super().to_representation(messages)


class MessageSerializer(serializers.Serializer):
    """The message resource (SPEC §3.1)."""

    class Meta:
        list_serializer_class = MessageListSerializer

    id = serializers.UUIDField()
    channelId = serializers.UUIDField(source="channel_id", allow_null=True)
    sender = serializers.DictField()
    receiver = ReceiverField()
    body = BodyField()
    template = serializers.SerializerMethodField()
    reference = serializers.CharField()
    status = MessageStatusField()
    reason = serializers.CharField()
    direction = DirectionField()
    tags = serializers.SerializerMethodField()
    shortLinks = ShortLinksField(source="short_links", allow_null=True)
    scheduledFor = serializers.DateTimeField(source="scheduled_for", allow_null=True)
    validity = serializers.IntegerField(help_text="Seconds")
    expiresAt = serializers.DateTimeField(source="expires_at", allow_null=True)
    priority = serializers.IntegerField()
    meta = serializers.DictField()
    read = serializers.BooleanField(help_text="Incoming messages: marked read here or on the phone")
    conversationId = serializers.UUIDField(source="conversation_id", allow_null=True)
    lastStatusAt = serializers.DateTimeField(source="last_status_at")
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")
    clicks = serializers.SerializerMethodField(help_text="Clicks on the message's short links (/l/<code>)")

    @extend_schema_field(OpenApiTypes.INT)
    def get_clicks(self, message) -> int:
        counted = getattr(message, "_click_count", None)
        return counted if counted is not None else smartlinks.click_counts([message.id]).get(message.id, 0)

    @extend_schema_field(TemplateInfoSerializer(allow_null=True))
    def get_template(self, message) -> dict | None:
        return message.template_info or None

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_tags(self, message) -> list[str]:
        # .all() reads the prefetch cache the views fill, so a page costs one query for tags.
        return sorted(tag.name for tag in message.tags.all())


class MessagePageSerializer(PageSerializer):
    results = MessageSerializer(many=True)


class BatchResponseSerializer(serializers.Serializer):
    results = MessageSerializer(many=True)


class PresignResponseSerializer(serializers.Serializer):
    mediaUrl = serializers.URLField(help_text="Use this URL in message bodies once the file is uploaded")
    uploadUrl = serializers.URLField(help_text="POST the form here; no access key needed")
    uploadMethod = serializers.ChoiceField(choices=["POST"])
    uploadFormData = serializers.DictField(
        child=serializers.CharField(), help_text="Send these fields plus a 'file' field as multipart/form-data"
    )
    expiresAt = serializers.DateTimeField()
