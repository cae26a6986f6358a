"""Conversations of the canonical API and the read action (SPEC §2, §3.1, §3.5).

- GET  /workspaces/{ws}/conversations                          — cursor pages, newest-updated first
- GET  /workspaces/{ws}/conversations/{id}                     — one conversation
- GET  /workspaces/{ws}/conversations/{id}/messages            — its messages, newest first
- POST /workspaces/{ws}/conversations/{id}/read                — mark its unread incoming messages read
- POST /workspaces/{ws}/channels/{ch}/messages/{id}/read       — mark one incoming message read

Reads need the viewer role, read actions the sender role; another workspace's ids answer
404 like ids that do not exist. Marking read goes through messaging.engine.sync.mark_read
(the one write path), which also tells the phone that reported the messages
(UpdateMessagesStatus) and records its answer.
"""

from django.db.models import OuterRef, Prefetch, QuerySet, Subquery
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from messaging.dialects.channels_api import messages_serializers as ms
from messaging.dialects.channels_api.messages_views import (
    LIST_PARAMS,
    MessageItemBase,
    actor_of,
    filter_messages,
    page_body,
)
from messaging.dialects.channels_api.pagination import PageSerializer, paginate
from messaging.engine import sync
from messaging.errors import Conflict, NotFound, ValidationFailed
from messaging.models import Contact, ContactIdentifier, Conversation, Direction, Message, Role
from messaging.portal.actions import mark_conversation_read
from messaging.services.smartlinks import body_texts

TAG = "conversations"

# --- serializers ---------------------------------------------------------------------------------


class ParticipantIdentifierSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="phonenumber, emailaddress, customerid or userid")
    value = serializers.CharField()


class ParticipantSerializer(serializers.Serializer):
    contactId = serializers.UUIDField(source="id")
    displayName = serializers.CharField(source="display_name")
    identifiers = serializers.SerializerMethodField()

    @extend_schema_field(ParticipantIdentifierSerializer(many=True))
    def get_identifiers(self, contact: Contact) -> list[dict]:
        # .all() reads the prefetch cache filled by conversations(); no query per contact.
        return [{"key": i.key, "value": i.value} for i in contact.identifiers.all()]


class LastMessageSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    text = serializers.SerializerMethodField(help_text="The message's text ('' for a body without text)")
    direction = ms.DirectionField()
    createdAt = serializers.DateTimeField(source="created_at")

    def get_text(self, message: Message) -> str:
        texts = body_texts(message.body if isinstance(message.body, dict) else {})
        return texts[0] if texts else ""


class ConversationSerializer(serializers.Serializer):
    """The conversation resource: a thread on a channel with its other participants."""

    id = serializers.UUIDField()
    channelId = serializers.UUIDField(source="channel_id", allow_null=True)
    endpointId = serializers.UUIDField(
        source="endpoint_id", allow_null=True, help_text="The phone that reported it (engine channels)"
    )
    externalId = serializers.SerializerMethodField(help_text="The reporting phone's own id of the thread, or ''")
    participants = ParticipantSerializer(many=True)
    unreadCount = serializers.IntegerField(source="unread_count")
    lastMessage = serializers.SerializerMethodField()
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")

    def get_externalId(self, conversation: Conversation) -> str:
        # Stored namespaced by endpoint (engine.sync.device_ref); clients know the phone's id.
        return sync.device_id_of(conversation.external_id) if conversation.external_id else ""

    @extend_schema_field(LastMessageSerializer(allow_null=True))
    def get_lastMessage(self, conversation: Conversation) -> dict | None:
        last = getattr(conversation, "last_message", None)
        return LastMessageSerializer(last).data if last is not None else None


class ConversationPageSerializer(PageSerializer):
    results = ConversationSerializer(many=True)


# --- queries -------------------------------------------------------------------------------------


def conversations(workspace_id) -> QuerySet:
    """The workspace's live conversations with everything the serializer reads prefetched:
    participants with identifiers, and the id of the newest message (one subquery)."""
    newest = Message.objects.filter(conversation=OuterRef("pk"), deleted=False).order_by("-created_at", "-id")
    contacts = Contact.objects.prefetch_related(Prefetch("identifiers", ContactIdentifier.objects.order_by("id")))
    return (
        Conversation.objects.filter(workspace_id=workspace_id, deleted=False)
        .prefetch_related(Prefetch("participants", contacts.order_by("created_at", "id")))
        .annotate(last_message_id=Subquery(newest.values("id")[:1]))
    )


def attach_last_messages(rows: list[Conversation]) -> list[Conversation]:
    """Set `last_message` on each conversation from one query for the whole page."""
    ids = [c.last_message_id for c in rows if c.last_message_id]
    found = {m.id: m for m in Message.objects.filter(id__in=ids).only("id", "body", "direction", "created_at")}
    for conversation in rows:
        conversation.last_message = found.get(conversation.last_message_id)
    return rows


def filter_conversations(qs: QuerySet, params) -> QuerySet:
    """`channel` (id) and `unread` (true/false); a bad value is a 422 naming the parameter."""
    if params.get("channel"):
        try:
            qs = qs.filter(channel_id=serializers.UUIDField().to_internal_value(params["channel"]))
        except serializers.ValidationError:
            raise ValidationFailed.field("channel", "is not a valid channel id") from None
    if params.get("unread"):
        value = params["unread"].strip().lower()
        if value not in ("true", "false"):
            raise ValidationFailed.field("unread", "must be true or false")
        qs = qs.filter(unread_count__gt=0) if value == "true" else qs.filter(unread_count=0)
    return qs


def page_by_update(qs: QuerySet, request) -> tuple[list, str | None]:
    """A keyset page on (updated_at, id), newest-updated first (pagination.paginate's
    tokens, keyed by updated_at).

    A conversation that gets a new message while a client walks the pages moves to the
    front (before the cursor): the walk does not show it twice, and the next walk from
    the first page shows it on top — the usual inbox behaviour.
    """
    rows, token = paginate(qs, request, time_field="updated_at")
    return attach_last_messages(rows), token


# --- views ---------------------------------------------------------------------------------------

CONVERSATION_PARAMS = [
    OpenApiParameter("limit", OpenApiTypes.INT, description="Rows per page (default 50, at most API_PAGE_LIMIT_MAX)"),
    OpenApiParameter("pageToken", OpenApiTypes.STR, description="nextPageToken of the previous page"),
    OpenApiParameter("channel", OpenApiTypes.UUID, description="Only this channel's conversations"),
    OpenApiParameter("unread", OpenApiTypes.BOOL, description="true: with unread messages; false: all read"),
]


class ConversationsBase(GenericAPIView):
    serializer_class = ConversationSerializer
    required_roles = {"POST": Role.SENDER}

    def get_conversation(self) -> Conversation:
        conversation = conversations(self.kwargs["workspace_id"]).filter(pk=self.kwargs["conversation_id"]).first()
        if conversation is None:
            raise NotFound("No such conversation.")
        return attach_last_messages([conversation])[0]


class ConversationListView(ConversationsBase):
    @extend_schema(
        tags=[TAG],
        operation_id="conversations_list",
        summary="List conversations",
        description=(
            "The workspace's conversations, most recently updated first (a new incoming message updates its "
            "conversation), in cursor pages: pass `nextPageToken` as `pageToken` for the next page."
        ),
        parameters=CONVERSATION_PARAMS,
        responses={200: ConversationPageSerializer},
    )
    def get(self, request, workspace_id):
        qs = filter_conversations(conversations(workspace_id), request.query_params)
        rows, token = page_by_update(qs, request)
        return Response(page_body(ConversationSerializer(rows, many=True).data, token))


class ConversationDetailView(ConversationsBase):
    @extend_schema(
        tags=[TAG],
        operation_id="conversations_get",
        summary="Get a conversation",
        responses={200: ConversationSerializer},
    )
    def get(self, request, workspace_id, conversation_id):
        return Response(ConversationSerializer(self.get_conversation()).data)


class ConversationMessagesView(ConversationsBase):
    @extend_schema(
        tags=[TAG],
        operation_id="conversations_messages",
        summary="List a conversation's messages",
        description="Newest first, in cursor pages, with the filters of the message lists.",
        parameters=LIST_PARAMS,
        responses={200: ms.MessagePageSerializer},
    )
    def get(self, request, workspace_id, conversation_id):
        conversation = self.get_conversation()
        qs = Message.objects.filter(
            workspace_id=workspace_id, conversation=conversation, deleted=False
        ).prefetch_related("tags")
        rows, token = paginate(filter_messages(qs, request.query_params), request)
        return Response(page_body(ms.MessageSerializer(rows, many=True).data, token))


class ConversationReadView(ConversationsBase):
    @extend_schema(
        tags=[TAG],
        operation_id="conversations_read",
        summary="Mark a conversation read",
        description=(
            "Marks the conversation's unread incoming messages read; its unreadCount becomes 0. When a phone "
            "reported them, it is told (UpdateMessagesStatus) at once, or when it reconnects. Needs the sender "
            "role. Answers 200 with the conversation."
        ),
        request=None,
        responses={200: ConversationSerializer},
    )
    def post(self, request, workspace_id, conversation_id):
        mark_conversation_read(self.get_conversation(), actor=actor_of(request))
        return Response(ConversationSerializer(self.get_conversation()).data)


class MessageReadView(MessageItemBase):
    @extend_schema(
        tags=["messages"],
        operation_id="channel_message_read",
        summary="Mark a message read",
        description=(
            "Marks one incoming message read (and updates its conversation's unreadCount). When a phone "
            "reported it, it is told (UpdateMessagesStatus). An outgoing message answers 409. Needs the "
            "sender role. Answers 200 with the message."
        ),
        request=None,
        responses={200: ms.MessageSerializer},
    )
    def post(self, request, workspace_id, channel_id, message_id):
        message = self.get_message()
        if message.direction != Direction.INCOMING:
            raise Conflict("Only incoming messages can be marked read; this message is outgoing.")
        if not message.read:  # already read: nothing changes, so the phone is not told again
            sync.mark_read([message], actor=actor_of(request))
        return Response(ms.MessageSerializer(self.get_message()).data)
