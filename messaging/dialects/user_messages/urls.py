"""Mounted at /rest/user/ (seed 003 mount points)."""

from django.urls import path

from messaging.dialects.user_messages import views as v

M = "message/"

urlpatterns = [
    path("login", v.endpoint("userLoginRequest", v.login, needs_token=False), name="user-login"),
    path(f"{M}conversations/get", v.endpoint("userMessageGetConversationsRequest", v.conversations_get)),
    path(f"{M}conversations/read", v.endpoint("userMessageReadConversationRequest", v.conversations_read)),
    path(f"{M}conversations/delete", v.endpoint("userMessageDeleteConversationRequest", v.conversations_delete)),
    path(
        f"{M}conversations/delete/list",
        v.endpoint("userMessageDeleteConversationListRequest", v.conversations_delete_list),
    ),
    path(f"{M}get/by/conversation", v.endpoint("userMessageGetMessagesRequest", v.messages_by_conversation)),
    path(f"{M}insert", v.endpoint("userMessageInsertRequest", v.message_insert)),
    path(f"{M}send", v.endpoint("userMessageSendRequest", v.message_send)),
    path(f"{M}update", v.endpoint("userMessageUpdateRequest", v.message_update)),
    path(f"{M}delete", v.endpoint("userMessageDeleteRequest", v.message_delete)),
    path(f"{M}delete/list", v.endpoint("userMessageDeleteListRequest", v.message_delete_list)),
    path(f"{M}lock/list", v.endpoint("userMessageLockListRequest", v.message_lock_list)),
    path(f"{M}unlock/list", v.endpoint("userMessageUnlockListRequest", v.message_unlock_list)),
    path(f"{M}search", v.endpoint("userMessageSearchRequest", v.message_search)),
    path(f"{M}sync", v.endpoint("userMessageSyncRequest", v.message_sync)),
]
