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


# The keys of a send request that arrive as MessageRequestSerializer would hand them on.
PLAIN_KEYS = frozenset({"receiver", "body", "reference", "tags", "meta", "scheduledFor"})
MAX_IDENTIFIER_VALUE = 320


def _plain_str(value, max_length: int | None = None) -> bool:
    return isinstance(value, str) and value == value.strip() and (max_length is None or len(value) <= max_length)


def is_plain_request(data) -> bool:
    """True for a send request that MessageRequestSerializer would return unchanged.

    The common send — receiver by identifier or id, a text body, perhaps reference, tags,
    meta and scheduledFor, all already strings/objects of the right type — needs no
    coercion, and messaging.services.send checks every one of those fields itself (naming
    the field). Skipping the serializer for it saves a third of the request's CPU (DRF
    deep-copies ~60 nested field objects per request). Anything else — a template, flags,
    numbers, other body types, values the serializer would trim or coerce — still goes
    through the serializer, so behaviour and error messages for those are unchanged.
    """
    if not isinstance(data, dict) or not data.keys() <= PLAIN_KEYS:
        return False
    receiver = data.get("receiver")
    if not isinstance(receiver, dict) or receiver.keys() != {"contacts"}:
        return False
    contacts = receiver["contacts"]
    if not isinstance(contacts, list) or not contacts:
        return False
    for contact in contacts:
        if not isinstance(contact, dict):
            return False
        if contact.keys() == {"id"}:
            if not _plain_str(contact["id"]):
                return False
        elif contact.keys() == {"identifierKey", "identifierValue"}:
            if not (_plain_str(contact["identifierKey"]) and _plain_str(contact["identifierValue"], MAX_IDENTIFIER_VALUE)):
                return False
        else:
            return False
    body = data.get("body")
    if not isinstance(body, dict) or body.get("type") != "text" or body.keys() != {"type", "text"}:
        return False
    text = body["text"]
    if not isinstance(text, dict) or text.keys() != {"text"} or not isinstance(text["text"], str):
        return False
    if "reference" in data and not _plain_str(data["reference"]):
        return False
    tags = data.get("tags", [])
    if not isinstance(tags, list) or not all(_plain_str(tag) for tag in tags):
        return False
    if "meta" in data and not isinstance(data["meta"], dict):
        return False
    return "scheduledFor" not in data or _plain_str(data["scheduledFor"])


def send_request(data) -> dict:
    """A send request ready for messaging.services.send.accept_message."""
    if is_plain_request(data):
        return data
    return validated(MessageRequestSerializer(data=data))


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

    def to_representation(self, message) -> dict:
        """What the declared fields produce, built directly: a send answers with one message,
        and DRF's field-by-field walk (with the deep copy of 23 fields) cost as much as
        the insert. tests/channels_api/test_message_representation.py checks that both agree."""
        return {
            "id": str(message.id),
            "channelId": _str(message.channel_id),
            "sender": dict(message.sender) if message.sender is not None else None,
            "receiver": message.receiver,
            "body": message.body,
            "template": self.get_template(message),
            "reference": _str(message.reference),
            "status": _str(message.status),
            "reason": _str(message.reason),
            "direction": _str(message.direction),
            "tags": self.get_tags(message),
            "shortLinks": message.short_links,
            "scheduledFor": _datetime(message.scheduled_for),
            "validity": _int(message.validity),
            "expiresAt": _datetime(message.expires_at),
            "priority": _int(message.priority),
            "meta": dict(message.meta) if message.meta is not None else None,
            "read": bool(message.read) if message.read is not None else None,
            "conversationId": _str(message.conversation_id),
            "lastStatusAt": _datetime(message.last_status_at),
            "createdAt": _datetime(message.created_at),
            "updatedAt": _datetime(message.updated_at),
            "clicks": self.get_clicks(message),
        }

    def field_representation(self, message) -> dict:
        """The declared fields' own output (what to_representation must equal)."""
        return super().to_representation(message)

    @extend_schema_field(OpenApiTypes.INT)
    def get_clicks(self, message) -> int:
        counted = getattr(message, "_click_count", None)
        return counted if counted is not None else smartlinks.click_counts([message.id]).get(message.id, 0)

    @extend_schema_field(TemplateInfoSerializer(allow_null=True))
    def get_template(self, message) -> dict | None:
        return message.template_info or None

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_tags(self, message) -> list[str]:
        # The prefetch cache the views and the send path fill, so a page costs one query for
        # tags (read directly: building the related manager to reach it costs more).
        cached = getattr(message, "_prefetched_objects_cache", {}).get("tags")
        return sorted(tag.name for tag in (cached if cached is not None else message.tags.all()))


def _str(value) -> str | None:
    return None if value is None else str(value)


def _int(value) -> int | None:
    return None if value is None else int(value)


_DATETIME = serializers.DateTimeField()


def _datetime(value) -> str | None:
    """DRF's DateTimeField output (ISO 8601 in the current time zone, UTC as Z)."""
    return None if value is None else _DATETIME.to_representation(value)


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
