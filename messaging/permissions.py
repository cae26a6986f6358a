"""Role checks for the canonical API.

Every view under /workspaces/{workspaceId}/ resolves the caller's role in that workspace.
No role → 404 (a stranger cannot tell a foreign workspace from a missing one); a role too
low for the method → 403. Views say which role a write needs with `write_role`
(default admin) and may override per action with `required_roles`.
"""

from rest_framework import exceptions, permissions

from messaging.auth import has_role, role_in_workspace
from messaging.models import Role

SAFE = ("GET", "HEAD", "OPTIONS")


class WorkspaceRolePermission(permissions.BasePermission):
    def has_permission(self, request, view) -> bool:
        if not request.user or not getattr(request.user, "is_authenticated", False):
            raise exceptions.NotAuthenticated()
        workspace_id = view.kwargs.get("workspace_id")
        if workspace_id is None:
            return True
        role = role_in_workspace(request.user, workspace_id)
        if role is None:
            raise exceptions.NotFound("No such workspace.")
        needed = getattr(view, "required_roles", {}).get(request.method)
        if needed is None:
            needed = Role.VIEWER if request.method in SAFE else getattr(view, "write_role", Role.ADMIN)
        if not has_role(role, needed):
            raise exceptions.PermissionDenied(f"This needs the {needed} role; the caller has {role}.")
        request.workspace_role = role
        return True
