from django.urls import path

from messaging.hooks import views

urlpatterns = [
    path("channels/<uuid:channel_id>/inbound", views.channel_inbound, name="channel-inbound-hook"),
]
