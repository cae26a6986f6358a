"""Presigned media uploads (SPEC §3.1 "Uploading media").

`presign()` creates a Media row and a set of form fields signed with a key derived from
SECRET_KEY. Whoever holds the form may upload one file of that content type, up to the
size limit, before the expiry; nothing else authorises the upload (no access key), so the
signature covers every field that matters. `receive()` checks the form and stores the file
with Django's default storage; the public `mediaUrl` serves it once uploaded.
"""

import mimetypes
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.text import get_valid_filename

from messaging.errors import DomainError, ValidationFailed
from messaging.models import Channel, Media, Workspace

CONTENT_TYPE_RE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+\-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+\-]{0,63}$")
_SIGNING_SALT = "switchboard.media-upload"
FORM_FIELDS = ("mediaId", "contentType", "maxSize", "expires")
# Content types a browser may show inline from our origin; anything else is served as an
# attachment, so an uploaded text/html or SVG file cannot run script on the portal's origin.
INLINE_TYPES = re.compile(r"^(image/(png|jpeg|gif|webp|bmp)|audio/.+|video/.+|application/pdf|text/plain)$")


class UploadRejected(DomainError):
    """The upload form or file is not acceptable; `http_status` says how (403/409/413/415/400)."""

    def __init__(self, http_status: int, code: str, message: str):
        super().__init__(message)
        self.http_status = http_status
        self.code = code


@dataclass(frozen=True)
class Presigned:
    media: Media
    media_url: str
    upload_url: str
    form_data: dict[str, str]


def check_content_type(value, field: str = "contentType") -> str:
    if not isinstance(value, str) or not CONTENT_TYPE_RE.match(value.strip().lower()):
        raise ValidationFailed.field(field, "must be a media type like image/png (type/subtype)")
    return value.strip().lower()


def public_url(path: str) -> str:
    return settings.PUBLIC_BASE_URL.rstrip("/") + path


def media_filename(media: Media) -> str:
    """The last segment of the media URL: the stored file's name, or the id + an extension."""
    if media.file:
        return media.file.name.rsplit("/", 1)[-1]
    return f"{media.id}{mimetypes.guess_extension(media.content_type) or ''}"


def media_url(media: Media) -> str:
    return public_url(reverse("media-file", kwargs={"media_id": media.id, "filename": media_filename(media)}))


def _signature(fields: dict[str, str]) -> str:
    payload = "|".join(f"{name}={fields[name]}" for name in FORM_FIELDS)
    return salted_hmac(_SIGNING_SALT, payload, algorithm="sha256").hexdigest()


def presign(workspace: Workspace, content_type: str, channel: Channel | None = None) -> Presigned:
    content_type = check_content_type(content_type)
    expiry_seconds = settings.MEDIA_UPLOAD_EXPIRY_SECONDS
    expires = int(time.time()) + expiry_seconds
    media = Media.objects.create(
        workspace=workspace,
        channel=channel,
        content_type=content_type,
        expires_at=datetime.fromtimestamp(expires, tz=UTC),
    )
    fields = {
        "mediaId": str(media.id),
        "contentType": content_type,
        "maxSize": str(settings.MEDIA_MAX_UPLOAD_BYTES),
        "expires": str(expires),
    }
    fields["signature"] = _signature(fields)
    return Presigned(
        media=media, media_url=media_url(media), upload_url=public_url(reverse("media-upload")), form_data=fields
    )


def check_form(form) -> dict[str, str]:
    """The signed fields of an upload form, or UploadRejected (403 for a bad or expired form)."""
    fields = {name: str(form.get(name) or "") for name in FORM_FIELDS}
    signature = str(form.get("signature") or "")
    if not signature or not all(fields.values()) or not constant_time_compare(signature, _signature(fields)):
        raise UploadRejected(403, "InvalidSignature", "The upload form is not valid: its signature does not match.")
    if int(fields["expires"]) < time.time():
        raise UploadRejected(403, "UploadExpired", "The upload form has expired; request a new presigned upload.")
    return fields


def _declared_type(file: UploadedFile) -> str:
    return (file.content_type or "").split(";", 1)[0].strip().lower()


def receive(form, file: UploadedFile | None) -> Media:
    """Store the uploaded `file` for the media the signed `form` names; once only."""
    fields = check_form(form)
    if file is None:
        raise UploadRejected(400, "InvalidPayload", "The form has no 'file' field.")
    if file.size > int(fields["maxSize"]):
        raise UploadRejected(413, "TooLarge", f"The file is larger than {fields['maxSize']} bytes.")
    declared = _declared_type(file)
    # Clients that do not know the type send application/octet-stream (curl does for most
    # extensions); the signed content type decides then. A different concrete type is refused.
    if declared and declared != "application/octet-stream" and declared != fields["contentType"]:
        raise UploadRejected(
            415, "UnsupportedMediaType", f"The file is {declared}; this upload was signed for {fields['contentType']}."
        )
    name = get_valid_filename(file.name or "") or fields["mediaId"]
    with transaction.atomic():
        # Claim the row atomically so two uploads with the same form cannot both win.
        claimed = Media.objects.filter(id=fields["mediaId"], uploaded_at__isnull=True).update(
            uploaded_at=timezone.now(), size=file.size
        )
        if not claimed:
            if Media.objects.filter(id=fields["mediaId"]).exists():
                raise UploadRejected(409, "AlreadyUploaded", "A file was already uploaded with this form.")
            raise UploadRejected(404, "NotFound", "This upload no longer exists.")
        media = Media.objects.get(id=fields["mediaId"])
        media.file.save(f"{media.id}/{name}", file, save=False)
        try:
            Media.objects.filter(id=media.id).update(file=media.file.name)
        except Exception:
            media.file.delete(save=False)  # do not leave an orphan file behind a rolled-back row
            raise
    return media


def find_uploaded(media_id) -> Media | None:
    return Media.objects.filter(id=media_id, uploaded_at__isnull=False).exclude(file="").first()


def serves_inline(content_type: str) -> bool:
    return bool(INLINE_TYPES.match(content_type))
