from django.urls import include, path

from messaging.dialects.channels_api import uploads as channels_api_uploads
from messaging.links import views as links_views

urlpatterns = [
    path("workspaces/", include("messaging.dialects.channels_api.urls")),
    # Signed inbound messages and delivery reports of sandbox/webhook channels (SPEC §3.7).
    path("hooks/", include("messaging.hooks.urls")),
    # Presigned upload receiver (no access key: the signed form authorises it) and media URLs.
    path("media/upload/", channels_api_uploads.upload_receiver, name="media-upload"),
    path("media/<uuid:media_id>/<str:filename>", channels_api_uploads.media_file, name="media-file"),
    path("media/<uuid:media_id>", channels_api_uploads.media_file, name="media-file-by-id"),
    # Seed 002: POST resources/v1/messaging and GET resources/v1/messaging/status/<transid>.
    path("resources/v1/", include("messaging.dialects.multichannel.urls")),
    # Smart/short link redirects with click logging (SPEC §3.7).
    path("l/<str:code>", links_views.follow, name="short-link"),
    # Seed 004: GET/POST services/rest/user/allMessages. CSRF-exempt (in the view): the
    # caller authenticates with username/password in the request, no session cookie.
    path("services/rest/user/", include("messaging.dialects.all_messages.urls")),
    # Seed 003: POST rest/user/login and rest/user/message/... in JSON or XML (apiKey +
    # authToken in the body or headers, no session cookie, so CSRF-exempt in the views).
    path("rest/user/", include("messaging.dialects.user_messages.urls")),
    # The portal dashboard at "/" and its small endpoints under "portal/".
    path("", include("messaging.portal.urls")),
]
