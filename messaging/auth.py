"""`Authorization: AccessKey <key>` for the canonical API, and the caller's workspace roles.

A request is made either by an access key (one workspace, one role) or by a portal user
through their memberships (one role per workspace; superusers are admin everywhere).
"""

from dataclasses import dataclass

from django.utils import timezone
from rest_framework import authentication, exceptions

from messaging.models import ROLE_RANK, AccessKey, Membership, Role, Workspace


@dataclass
class KeyUser:
    """What request.user is when an access key authenticated the request."""

    key: AccessKey
    is_authenticated: bool = True
    is_staff: bool = False
    is_superuser: bool = False
    is_active: bool = True

    @property
    def pk(self):
        return None

    def __str__(self) -> str:
        return f"access key {self.key.name}"


class AccessKeyAuthentication(authentication.BaseAuthentication):
    keyword = "AccessKey"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        parts = header.split()
        if not parts or parts[0] != self.keyword:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("The Authorization header must be 'AccessKey <key>'.")
        key = AccessKey.find_by_token_with(parts[1], "workspace", active=True)
        if key is None:
            raise exceptions.AuthenticationFailed("The access key is not valid.")
        # Touch last_used_at at most once a minute, to keep reads cheap.
        now = timezone.now()
        if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
            AccessKey.objects.filter(pk=key.pk).update(last_used_at=now)
        return KeyUser(key=key), key

    def authenticate_header(self, request) -> str:
        return self.keyword


def role_in_workspace(user, workspace_id) -> str | None:
    """The caller's role in a workspace, or None when they have no access to it."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    if isinstance(user, KeyUser):
        return user.key.role if str(user.key.workspace_id) == str(workspace_id) else None
    if user.is_superuser:
        return Role.ADMIN
    membership = Membership.objects.filter(user=user, workspace_id=workspace_id).values_list("role", flat=True).first()
    return membership


def has_role(role: str | None, needed: str) -> bool:
    return role is not None and ROLE_RANK[Role(role)] >= ROLE_RANK[Role(needed)]


def workspaces_for(user):
    """Workspaces a portal user (or access key) may see."""
    if isinstance(user, KeyUser):
        return Workspace.objects.filter(pk=user.key.workspace_id)
    if user.is_superuser:
        return Workspace.objects.all()
    return Workspace.objects.filter(memberships__user=user)
