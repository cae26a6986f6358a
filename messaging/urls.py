from django.urls import include, path

urlpatterns = [
    path("workspaces/", include("messaging.dialects.channels_api.urls")),
]
