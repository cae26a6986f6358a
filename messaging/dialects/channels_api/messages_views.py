"""Messages of the canonical API (SPEC §3.1, seed 001): send, batch send, list, get, cancel.

Everything is scoped to the workspace of the URL: a channel or message of another
workspace answers 404 exactly like one that does not exist. Reads need the viewer role,
sends and cancels the sender role. Views parse, call one function of
messaging.services.send, and answer.
"""

import uuid

from django.db.models import QuerySet
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from messaging.db import get_with_parent
from messaging.dialects.channels_api import messages_serializers as s
from messaging.dialects.channels_api.pagination import paginate
from messaging.errors import NotFound, ValidationFailed
from messaging.models import AccessKey, Channel, Direction, Message, Role, Status, Workspace
from messaging.services import send
from messaging.services.channels import channel_of

TAG = "messages"


class AccessKeyScheme(OpenApiAuthenticationExtension):
    """Documents `Authorization: AccessKey <key>` (messaging.auth) in the OpenAPI schema."""

    target_class = "messaging.auth.AccessKeyAuthentication"
    name = "AccessKey"

    def get_security_definition(self, auto_schema) -> dict:
        return {"type": "apiKey", "in": "header", "name": "Authorization", "description": "AccessKey <key>"}
LIST_PARAMS = [
    OpenApiParameter("limit", OpenApiTypes.INT, description="Rows per page (default 50, at most API_PAGE_LIMIT_MAX)"),
    OpenApiParameter("pageToken", OpenApiTypes.STR, description="nextPageToken of the previous page"),
    OpenApiParameter("status", OpenApiTypes.STR, description="One status, or several separated by commas"),
    OpenApiParameter("direction", OpenApiTypes.STR, enum=Direction.values),
    OpenApiParameter("reference", OpenApiTypes.STR, description="The client's reference, exactly"),
    OpenApiParameter("tag", OpenApiTypes.STR, description="Messages with this tag (case-insensitive)"),
    OpenApiParameter("contact", OpenApiTypes.UUID, description="Messages to or from this contact id"),
    OpenApiParameter("from", OpenApiTypes.DATETIME, description="createdAt at or after (RFC 3339)"),
    OpenApiParameter("to", OpenApiTypes.DATETIME, description="createdAt before (RFC 3339)"),
]


def actor_of(request) -> str:
    return str(request.user)[:100]


def page_body(rows: list, token: str | None) -> dict:
    body: dict = {"results": rows}
    if token:
        body["nextPageToken"] = token
    return body


def filter_messages(qs: QuerySet, params) -> QuerySet:
    """The list filters; a bad value is a 422 naming the parameter."""
    if params.get("status"):
        statuses = [v.strip() for v in params["status"].split(",") if v.strip()]
        bad = [v for v in statuses if v not in Status.values]
        if bad or not statuses:
            raise ValidationFailed.field("status", f"must be among {', '.join(Status.values)}")
        qs = qs.filter(status__in=statuses)
    if params.get("direction"):
        if params["direction"] not in Direction.values:
            raise ValidationFailed.field("direction", f"must be one of {', '.join(Direction.values)}")
        qs = qs.filter(direction=params["direction"])
    if params.get("reference"):
        qs = qs.filter(reference=params["reference"])
    if params.get("tag"):
        qs = qs.filter(tags__name=params["tag"].strip().lower())
    if params.get("contact"):
        try:
            contact_id = uuid.UUID(params["contact"])
        except ValueError:
            raise ValidationFailed.field("contact", "is not a valid contact id") from None
        qs = qs.filter(contacts__id=contact_id)
    if params.get("from"):
        qs = qs.filter(created_at__gte=send.parse_rfc3339(params["from"], "from"))
    if params.get("to"):
        qs = qs.filter(created_at__lt=send.parse_rfc3339(params["to"], "to"))
    return qs


class MessagesBase(GenericAPIView):
    serializer_class = s.MessageSerializer
    required_roles = {"POST": Role.SENDER}

    def get_workspace(self) -> Workspace:
        workspace = Workspace.objects.filter(pk=self.kwargs["workspace_id"]).first()
        if workspace is None:  # only a superuser gets this far for an unknown id
            raise NotFound("No such workspace.")
        return workspace

    def get_channel(self) -> Channel:
        # Every send starts here. An access key came with its workspace row, fresh: the
        # channel as this process read it while that row's channels_version is unchanged
        # (services/channels.py). A portal user's request reads channel and workspace in
        # one written-out SELECT (messaging.db).
        key = self.request.auth
        if isinstance(key, AccessKey) and key.workspace_id == self.kwargs["workspace_id"]:
            channel = channel_of(key.workspace, self.kwargs["channel_id"])
        else:
            channel = get_with_parent(
                Channel, "workspace", id=self.kwargs["channel_id"], workspace_id=self.kwargs["workspace_id"]
            )
        if channel is None:
            raise NotFound("No such channel.")
        return channel

    def messages(self) -> QuerySet:
        return Message.objects.filter(workspace_id=self.kwargs["workspace_id"]).prefetch_related("tags")

    def list_page(self, qs: QuerySet) -> Response:
        rows, token = paginate(filter_messages(qs, self.request.query_params), self.request)
        return Response(page_body(s.MessageSerializer(rows, many=True).data, token))


class ChannelMessagesView(MessagesBase):
    @extend_schema(
        tags=[TAG],
        operation_id="channel_messages_send",
        summary="Send a message",
        description=(
            "Send a message to one receiver (several on the email platform) on an active channel. "
            "Give exactly one of `body` or `template`. The receiver contact is created on first use. "
            "Needs the sender role. Answers 202 with the message, `accepted` or `scheduled`."
        ),
        request=s.MessageRequestSerializer,
        responses={202: s.MessageSerializer},
    )
    def post(self, request, workspace_id, channel_id):
        channel = self.get_channel()
        data = s.send_request(request.data)
        message = send.accept_message(channel.workspace, channel, data, actor=actor_of(request))
        # Just accepted, not yet delivered: nobody can have clicked its links. Saves the
        # serializer's click-count query (~10% of a send, measured with bench/send.py).
        message._click_count = 0
        return Response(s.MessageSerializer(message).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        tags=[TAG],
        operation_id="channel_messages_list",
        summary="List messages of a channel",
        description="Newest first, in cursor pages: pass `nextPageToken` as `pageToken` for the next page.",
        parameters=LIST_PARAMS,
        responses={200: s.MessagePageSerializer},
    )
    def get(self, request, workspace_id, channel_id):
        channel = self.get_channel()
        return self.list_page(self.messages().filter(channel=channel))


class BatchMessagesView(MessagesBase):
    @extend_schema(
        tags=[TAG],
        operation_id="channel_messages_batch_send",
        summary="Send a batch of messages",
        description=(
            "Up to 100 message requests on one channel, accepted all together or not at all: an error names "
            "the request, e.g. `messageRequests[3].body`. Needs the sender role."
        ),
        request=s.BatchRequestSerializer,
        responses={202: s.BatchResponseSerializer},
    )
    def post(self, request, workspace_id, channel_id):
        channel = self.get_channel()
        data = s.validated(s.BatchRequestSerializer(data=request.data))
        messages = send.accept_batch(
            channel.workspace, channel, data["messageRequests"], actor=actor_of(request)
        )
        return Response({"results": s.MessageSerializer(messages, many=True).data}, status=status.HTTP_202_ACCEPTED)


class WorkspaceMessagesView(MessagesBase):
    @extend_schema(
        tags=[TAG],
        operation_id="workspace_messages_list",
        summary="List messages of a workspace",
        description="All channels' messages, newest first, in cursor pages, with the same filters as a channel's list.",
        parameters=LIST_PARAMS,
        responses={200: s.MessagePageSerializer},
    )
    def get(self, request, workspace_id):
        self.get_workspace()
        return self.list_page(self.messages())


class MessageItemBase(MessagesBase):
    def get_message(self) -> Message:
        message = (
            self.messages()
            .filter(channel_id=self.kwargs["channel_id"], pk=self.kwargs["message_id"])
            .select_related("channel")
            .first()
        )
        if message is None:
            raise NotFound("No such message.")
        return message


class MessageDetailView(MessageItemBase):
    @extend_schema(
        tags=[TAG],
        operation_id="channel_message_get",
        summary="Get a channel message",
        description="One message of the channel, with its current status and reason.",
        responses={200: s.MessageSerializer},
    )
    def get(self, request, workspace_id, channel_id, message_id):
        return Response(s.MessageSerializer(self.get_message()).data)


class MessageCancelView(MessageItemBase):
    @extend_schema(
        tags=[TAG],
        operation_id="channel_message_cancel",
        summary="Cancel a message",
        description=(
            "Cancel a `scheduled` (or still `accepted`) outgoing message: 200 with the message, now `canceled`. "
            "Any other status answers 409. Needs the sender role."
        ),
        request=None,
        responses={200: s.MessageSerializer},
    )
    def post(self, request, workspace_id, channel_id, message_id):
        message = send.cancel_message(self.get_message(), actor=actor_of(request))
        return Response(s.MessageSerializer(message).data)
