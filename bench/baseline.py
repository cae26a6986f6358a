"""What bench/send.py compares the send endpoint with, on the same server and database.

Both pay what every endpoint of the API pays — the same middleware, AccessKey
authentication and WorkspaceRolePermission (sender role) as
POST /workspaces/{w}/channels/{c}/messages, JSON parsing of the same request body — and
insert one row into the same table (Message, with its indexes):

- BaselineCreateView, "the bare DRF create endpoint" of issue #3: DRF's own
  `CreateAPIView` with a `ModelSerializer` over the fields the body carries (receiver,
  body, reference), i.e. what `serializer.is_valid(); serializer.save()` and the
  serializer's answer cost, and nothing of Switchboard: no receiver rules, contacts,
  events, dispatch signal. The send/baseline ratio target (>= 0.8) is against this.
- FloorCreateView, stricter still: no serializer at all, `Message.objects.create()` and a
  two-field answer. Reported as well, so the figure against the barest possible insert is
  on record too.

Rows are stored `canceled` (a final status) so the delivery workers never pick them up.
"""

from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from messaging.models import Message, Role, Status

BODY = {"type": "text", "text": {"text": "baseline"}}


class BaselineMessageSerializer(serializers.ModelSerializer):
    class Meta:
        model = Message
        fields = ["id", "receiver", "body", "reference", "status", "created_at"]
        read_only_fields = ["id", "status", "created_at"]


class BaselineCreateView(generics.CreateAPIView):
    required_roles = {"POST": Role.SENDER}
    serializer_class = BaselineMessageSerializer

    def perform_create(self, serializer):
        serializer.save(
            workspace_id=self.kwargs["workspace_id"], channel_id=self.kwargs["channel_id"], status=Status.CANCELED
        )


class FloorCreateView(APIView):
    required_roles = {"POST": Role.SENDER}

    def post(self, request, workspace_id, channel_id):
        request.data  # noqa: B018 - parse the JSON body as the real endpoint does
        message = Message.objects.create(
            workspace_id=workspace_id, channel_id=channel_id, body=BODY, status=Status.CANCELED
        )
        return Response({"id": str(message.id), "status": message.status}, status=status.HTTP_201_CREATED)
