"""Presigned media uploads: the presign endpoints, the keyless upload receiver, media URLs."""

import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from messaging.models import Media
from messaging.services import media as media_service
from tests import factories

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def presign_url(workspace, channel=None) -> str:
    if channel is not None:
        return f"/workspaces/{workspace.id}/channels/{channel.id}/presigned-upload"
    return f"/workspaces/{workspace.id}/presigned-upload"


@pytest.fixture
def client(api, sender_key):
    return api.key(sender_key)


@pytest.fixture
def presigned(client, workspace, settings) -> dict:
    settings.PUBLIC_BASE_URL = "https://hub.example.com"
    resp = client.post(presign_url(workspace), {"contentType": "image/png"}, format="json")
    assert resp.status_code == 200, resp.content
    return resp.json()


def local(url: str) -> str:
    return url.removeprefix("https://hub.example.com")


def upload(form: dict, content: bytes = PNG, content_type: str = "image/png", name: str = "photo.png"):
    """What a curl -F upload does: no access key, no cookies, no CSRF token."""
    anonymous = Client(enforce_csrf_checks=True)
    data = {**form, "file": SimpleUploadedFile(name, content, content_type=content_type)}
    return anonymous.post("/media/upload/", data)


def test_it_presigns_an_upload(presigned, workspace):
    assert presigned["uploadMethod"] == "POST"
    assert presigned["uploadUrl"] == "https://hub.example.com/media/upload/"
    assert presigned["mediaUrl"].startswith("https://hub.example.com/media/")
    form = presigned["uploadFormData"]
    assert set(form) == {"mediaId", "contentType", "maxSize", "expires", "signature"}
    assert form["contentType"] == "image/png"
    media = Media.objects.get(id=form["mediaId"])
    assert (media.workspace, media.channel, media.uploaded_at) == (workspace, None, None)


def test_a_full_round_trip_serves_the_uploaded_bytes(presigned):
    anonymous = Client()
    assert anonymous.get(local(presigned["mediaUrl"])).status_code == 404  # nothing uploaded yet
    resp = upload(presigned["uploadFormData"])
    assert resp.status_code == 201, resp.content
    assert resp.json()["size"] == len(PNG)
    served = anonymous.get(local(presigned["mediaUrl"]))
    assert served.status_code == 200
    assert served["Content-Type"] == "image/png"
    assert b"".join(served.streaming_content) == PNG
    # The URL the receiver answers with (it ends in the file's name) serves the same bytes.
    again = anonymous.get(local(resp.json()["mediaUrl"]))
    assert b"".join(again.streaming_content) == PNG


def test_a_file_of_unknown_type_takes_the_signed_type(presigned):
    resp = upload(presigned["uploadFormData"], content_type="application/octet-stream", name="blob")
    assert resp.status_code == 201, resp.content
    assert Client().get(local(presigned["mediaUrl"]))["Content-Type"] == "image/png"


def test_an_html_upload_is_served_as_an_attachment(client, workspace):
    form = client.post(presign_url(workspace), {"contentType": "text/html"}, format="json").json()["uploadFormData"]
    resp = upload(form, b"<script>alert(1)</script>", "text/html", "x.html")
    assert resp.status_code == 201
    served = Client().get(f"/media/{form['mediaId']}")
    assert served["Content-Disposition"].startswith("attachment")
    assert served["X-Content-Type-Options"] == "nosniff"


def test_it_presigns_for_a_channel(client, workspace, sms_channel):
    resp = client.post(presign_url(workspace, sms_channel), {"contentType": "application/pdf"}, format="json")
    assert resp.status_code == 200
    assert Media.objects.get(id=resp.json()["uploadFormData"]["mediaId"]).channel == sms_channel


@pytest.mark.parametrize("value", ["png", "image/", "image/png; rm -rf", "", "a/b/c"])
def test_it_rejects_a_content_type_that_is_not_type_slash_subtype(client, workspace, value):
    resp = client.post(presign_url(workspace), {"contentType": value}, format="json")
    assert resp.status_code == 422
    assert "contentType" in resp.json()["details"]
    assert not Media.objects.exists()


def test_presigning_needs_the_sender_role_and_the_workspace(api, viewer_key, foreign_key, workspace, other_workspace):
    body = {"contentType": "image/png"}
    assert api.key(None).post(presign_url(workspace), body, format="json").status_code == 401
    assert api.key(viewer_key).post(presign_url(workspace), body, format="json").status_code == 403
    assert api.key(foreign_key).post(presign_url(workspace), body, format="json").status_code == 404
    foreign_channel = factories.create_channel(other_workspace)
    sender = factories.create_access_key(workspace, "sender")[1]
    assert api.key(sender).post(presign_url(workspace, foreign_channel), body, format="json").status_code == 404
    assert not Media.objects.exists()


def test_an_expired_form_is_refused(presigned, monkeypatch):
    later = time.time() + 2 * 86400
    monkeypatch.setattr(media_service.time, "time", lambda: later)
    resp = upload(presigned["uploadFormData"])
    assert resp.status_code == 403
    assert resp.json()["code"] == "UploadExpired"
    assert Media.objects.get().uploaded_at is None


def test_an_oversized_file_is_refused(client, workspace, settings):
    settings.MEDIA_MAX_UPLOAD_BYTES = 100
    form = client.post(presign_url(workspace), {"contentType": "image/png"}, format="json").json()["uploadFormData"]
    resp = upload(form, b"x" * 101)
    assert resp.status_code == 413
    assert Media.objects.get().uploaded_at is None


def test_a_huge_body_is_refused_before_it_is_read(client, workspace, settings):
    settings.MEDIA_MAX_UPLOAD_BYTES = 10
    form = client.post(presign_url(workspace), {"contentType": "image/png"}, format="json").json()["uploadFormData"]
    assert upload(form, b"x" * (200 * 1024)).status_code == 413


@pytest.mark.parametrize("field,value", [("maxSize", "999999999"), ("contentType", "text/html"), ("expires", "9999999999"), ("signature", "0" * 64)])
def test_a_tampered_form_is_refused(presigned, field, value):
    form = {**presigned["uploadFormData"], field: value}
    resp = upload(form, content_type="application/octet-stream")
    assert resp.status_code == 403
    assert resp.json()["code"] == "InvalidSignature"
    assert Media.objects.get().uploaded_at is None


def test_a_missing_signature_is_refused(presigned):
    form = dict(presigned["uploadFormData"])
    del form["signature"]
    assert upload(form).status_code == 403


def test_a_different_content_type_is_refused(presigned):
    resp = upload(presigned["uploadFormData"], b"%PDF-1.4", "application/pdf", "doc.pdf")
    assert resp.status_code == 415
    assert Media.objects.get().uploaded_at is None


def test_a_form_is_used_once(presigned):
    assert upload(presigned["uploadFormData"]).status_code == 201
    second = upload(presigned["uploadFormData"], b"other bytes")
    assert second.status_code == 409
    served = Client().get(local(presigned["mediaUrl"]))
    assert b"".join(served.streaming_content) == PNG


def test_an_upload_without_a_file_is_refused(presigned):
    resp = Client().post("/media/upload/", presigned["uploadFormData"])
    assert resp.status_code == 400
    assert Media.objects.get().uploaded_at is None


def test_unknown_media_is_404(db):
    assert Client().get("/media/6f1c1f7e-8d3c-4c53-9a55-2f1f3b0c9d11/x.png").status_code == 404


def test_the_receiver_only_takes_post(presigned):
    assert Client().get("/media/upload/").status_code == 405
