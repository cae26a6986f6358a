from django.urls import path

from messaging.dialects.all_messages import views

urlpatterns = [
    path("allMessages", views.all_messages, name="all-messages"),
]
