"""Portal routes, mounted at the site root by messaging.urls."""

from django.urls import path

from messaging.portal import views

app_name = "portal"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("portal/data/", views.data, name="data"),
    path("portal/channels/<uuid:channel_id>/pause/", views.channel_pause, name="channel-pause"),
    path("portal/channels/<uuid:channel_id>/resume/", views.channel_resume, name="channel-resume"),
    path(
        "portal/conversations/<uuid:conversation_id>/read/", views.conversation_read, name="conversation-read"
    ),
]
