"""Media uploads (SPEC §3.1 "Uploading media"): presigned upload forms, the upload
receiver and the public media URLs.

    POST /workspaces/{ws}/presigned-upload                      (sender role)
    POST /workspaces/{ws}/channels/{channel}/presigned-upload   (sender role)
    POST /media/upload/          multipart form: the signed fields + `file`; no access key
    GET  /media/{id}/{filename}  the uploaded file (404 until uploaded)
"""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import FileResponse, Http404, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST
from drf_spectacular.utils import extend_schema
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from messaging.dialects.channels_api import messages_serializers as s
from messaging.dialects.channels_api.errors import error_body
from messaging.models import Channel, Role, Workspace
from messaging.services import media as media_service

# Room for the signed form fields and multipart framing around the file itself.
_FORM_OVERHEAD_BYTES = 64 * 1024


class PresignBase(GenericAPIView):
    serializer_class = s.PresignRequestSerializer
    required_roles = {"POST": Role.SENDER}

    def presign(self, request, workspace: Workspace, channel: Channel | None) -> Response:
        data = s.validated(s.PresignRequestSerializer(data=request.data))
        upload = media_service.presign(workspace, data["contentType"], channel=channel)
        return Response(
            {
                "mediaUrl": upload.media_url,
                "uploadUrl": upload.upload_url,
                "uploadMethod": "POST",
                "uploadFormData": upload.form_data,
                "expiresAt": upload.media.expires_at,
            }
        )


PRESIGN_DESCRIPTION = (
    "Returns a form to upload one file of `contentType` without an access key: POST `uploadFormData` plus "
    "a `file` field as multipart/form-data to `uploadUrl` before `expiresAt`. Then use `mediaUrl` in message "
    "bodies. Needs the sender role."
)


class WorkspacePresignView(PresignBase):
    @extend_schema(
        tags=["media"],
        operation_id="presigned_upload_create",
        summary="Create a presigned media upload",
        description=PRESIGN_DESCRIPTION + " The upload can be used on any channel.",
        request=s.PresignRequestSerializer,
        responses={200: s.PresignResponseSerializer},
    )
    def post(self, request, workspace_id):
        workspace = Workspace.objects.filter(pk=workspace_id).first()
        if workspace is None:  # only a superuser gets this far for an unknown id
            raise Http404
        return self.presign(request, workspace, None)


class ChannelPresignView(PresignBase):
    @extend_schema(
        tags=["media"],
        operation_id="channel_presigned_upload_create",
        summary="Create a presigned media upload for a channel",
        description=PRESIGN_DESCRIPTION + " The upload is tied to the channel.",
        request=s.PresignRequestSerializer,
        responses={200: s.PresignResponseSerializer},
    )
    def post(self, request, workspace_id, channel_id):
        channel = Channel.objects.select_related("workspace").filter(pk=channel_id, workspace_id=workspace_id).first()
        if channel is None:
            raise Http404
        return self.presign(request, channel.workspace, channel)


def _error(http_status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(error_body(code, message), status=http_status)


# CSRF-exempt on purpose: this endpoint takes no cookie or access key at all. It is
# authorised only by the signed form fields (media id, content type, size limit, expiry),
# which a cross-site page cannot forge, so CSRF protection would add nothing but break
# every non-browser client the presigned form is meant for.
@csrf_exempt
@require_POST
def upload_receiver(request):
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    # Refuse an obviously oversized body before reading it into memory or onto disk.
    if declared > settings.MEDIA_MAX_UPLOAD_BYTES + _FORM_OVERHEAD_BYTES:
        return _error(413, "TooLarge", f"The file is larger than {settings.MEDIA_MAX_UPLOAD_BYTES} bytes.")
    try:
        form, file = request.POST, request.FILES.get("file")
    except RequestDataTooBig:
        return _error(413, "TooLarge", "The form fields are too large.")
    except (MultiPartParserError, TooManyFieldsSent) as exc:
        return _error(400, "InvalidPayload", f"The body is not a valid multipart form: {exc}")
    try:
        media = media_service.receive(form, file)
    except media_service.UploadRejected as exc:
        return _error(exc.http_status, exc.code, exc.message)
    return JsonResponse({"mediaUrl": media_service.media_url(media), "size": media.size}, status=201)


@require_GET
def media_file(request, media_id, filename: str = ""):
    """The uploaded file, public like the vendor's media URLs (the id is unguessable)."""
    media = media_service.find_uploaded(media_id)
    if media is None:
        return _error(404, "NotFound", "No such media, or nothing was uploaded yet.")
    response = FileResponse(media.file.open("rb"), content_type=media.content_type)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox"
    if not media_service.serves_inline(media.content_type):
        response["Content-Disposition"] = f'attachment; filename="{media_service.media_filename(media)}"'
    return response
