"""The floor bench/send.py compares the send endpoint with: a DRF view that inserts one row.

It pays what any DRF create endpoint pays — the same middleware, AccessKey
authentication and WorkspaceRolePermission (sender role) as
POST /workspaces/{w}/channels/{c}/messages, JSON parsing of the same request body, one
INSERT of a Message row (the same table and indexes the send path writes), and a small
JSON answer — and nothing else: no validation, contacts, events, dispatch signal or
message serializer.
"""

from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from messaging.models import Message, Role, Status

BODY = {"type": "text", "text": {"text": "baseline"}}


class BaselineCreateView(APIView):
    required_roles = {"POST": Role.SENDER}

    def post(self, request, workspace_id, channel_id):
        request.data  # noqa: B018 - parse the JSON body as the real endpoint does
        # canceled: a final status, so the delivery workers never pick these rows up.
        message = Message.objects.create(
            workspace_id=workspace_id, channel_id=channel_id, body=BODY, status=Status.CANCELED
        )
        return Response({"id": str(message.id), "status": message.status}, status=status.HTTP_201_CREATED)
