"""Portal routes, mounted at the site root by messaging.urls."""

from django.contrib.auth import views as auth_views
from django.urls import path

from messaging.portal import views

app_name = "portal"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    # Any active user logs in here, staff or not (the admin's login admits staff only);
    # a user without a membership then sees the dashboard's "no workspace" page.
    path(
        "login/",
        auth_views.LoginView.as_view(
            template_name="registration/login.html", redirect_authenticated_user=True
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(next_page="portal:login"), name="logout"),  # POST only
    path("portal/data/", views.data, name="data"),
    path("portal/channels/<uuid:channel_id>/pause/", views.channel_pause, name="channel-pause"),
    path("portal/channels/<uuid:channel_id>/resume/", views.channel_resume, name="channel-resume"),
    path(
        "portal/conversations/<uuid:conversation_id>/read/", views.conversation_read, name="conversation-read"
    ),
]
