"""Canonical API (seed 001) under /workspaces/{workspaceId}/."""

from django.urls import path

from messaging.dialects.channels_api.resources import views as resources

urlpatterns: list = []

# Management resources (SPEC §3.1): collection + item for each, item ids UUID or int.
urlpatterns += [
    path("<uuid:workspace_id>/channels", resources.ChannelListView.as_view(), name="channel-list"),
    path("<uuid:workspace_id>/channels/<uuid:pk>", resources.ChannelItemView.as_view(), name="channel-detail"),
    path("<uuid:workspace_id>/contacts", resources.ContactListView.as_view(), name="contact-list"),
    path("<uuid:workspace_id>/contacts/<uuid:pk>", resources.ContactItemView.as_view(), name="contact-detail"),
    path("<uuid:workspace_id>/tags", resources.TagListView.as_view(), name="tag-list"),
    path("<uuid:workspace_id>/tags/<int:pk>", resources.TagItemView.as_view(), name="tag-detail"),
    path("<uuid:workspace_id>/templates", resources.TemplateListView.as_view(), name="template-list"),
    path("<uuid:workspace_id>/templates/<uuid:pk>", resources.TemplateItemView.as_view(), name="template-detail"),
    path("<uuid:workspace_id>/smartlinks", resources.SmartLinkListView.as_view(), name="smartlink-list"),
    path("<uuid:workspace_id>/smartlinks/<int:pk>", resources.SmartLinkItemView.as_view(), name="smartlink-detail"),
    path(
        "<uuid:workspace_id>/smartlinks/<int:pk>/clicks",
        resources.SmartLinkClicksView.as_view(),
        name="smartlink-clicks",
    ),
    path("<uuid:workspace_id>/webhook-subscriptions", resources.WebhookListView.as_view(), name="webhook-list"),
    path(
        "<uuid:workspace_id>/webhook-subscriptions/<uuid:pk>",
        resources.WebhookItemView.as_view(),
        name="webhook-detail",
    ),
    path(
        "<uuid:workspace_id>/webhook-subscriptions/<uuid:pk>/attempts",
        resources.WebhookAttemptsView.as_view(),
        name="webhook-attempts",
    ),
]

# Messages and presigned uploads (SPEC §3.1, seed 001).
from messaging.dialects.channels_api import messages_views as messages  # noqa: E402
from messaging.dialects.channels_api import uploads  # noqa: E402

_CH = "<uuid:workspace_id>/channels/<uuid:channel_id>"
urlpatterns += [
    path(f"{_CH}/messages", messages.ChannelMessagesView.as_view(), name="channel-messages"),
    path(f"{_CH}/batch/messages", messages.BatchMessagesView.as_view(), name="channel-batch-messages"),
    path(f"{_CH}/messages/<uuid:message_id>", messages.MessageDetailView.as_view(), name="message-detail"),
    path(f"{_CH}/messages/<uuid:message_id>/cancel", messages.MessageCancelView.as_view(), name="message-cancel"),
    path("<uuid:workspace_id>/messages", messages.WorkspaceMessagesView.as_view(), name="workspace-messages"),
    path("<uuid:workspace_id>/presigned-upload", uploads.WorkspacePresignView.as_view(), name="presigned-upload"),
    path(f"{_CH}/presigned-upload", uploads.ChannelPresignView.as_view(), name="channel-presigned-upload"),
]

# Conversations and the read action (SPEC §2, §3.5: a read reaches the reporting phone).
from messaging.dialects.channels_api import conversations  # noqa: E402

_CONV = "<uuid:workspace_id>/conversations/<uuid:conversation_id>"
urlpatterns += [
    path("<uuid:workspace_id>/conversations", conversations.ConversationListView.as_view(), name="conversation-list"),
    path(_CONV, conversations.ConversationDetailView.as_view(), name="conversation-detail"),
    path(f"{_CONV}/messages", conversations.ConversationMessagesView.as_view(), name="conversation-messages"),
    path(f"{_CONV}/read", conversations.ConversationReadView.as_view(), name="conversation-read"),
    path(f"{_CH}/messages/<uuid:message_id>/read", conversations.MessageReadView.as_view(), name="message-read"),
]
