"""Included under "resources/v1/" by messaging/urls.py (no trailing slashes: the seed's paths)."""

from django.urls import path

from messaging.dialects.multichannel import views

urlpatterns = [
    path("messaging", views.messaging, name="multichannel-messaging"),
    path("messaging/status/<str:transid>", views.status, name="multichannel-status"),
]
