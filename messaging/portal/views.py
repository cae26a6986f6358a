"""The portal dashboard: one page, its JSON snapshot, and two small POST actions.

Scoping: a user sees the workspaces they have a Membership in (superusers: all). An
object of a workspace the user cannot see answers 404, exactly like one that does not
exist; a workspace they see with too low a role answers 403 (pause/resume need `admin`,
mark-read needs `sender`).
"""

import uuid
from functools import wraps

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from messaging.auth import has_role, role_in_workspace, workspaces_for
from messaging.models import Channel, Conversation, Role, Workspace
from messaging.portal import actions, queries

SESSION_KEY = "portal_workspace"


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def portal_login_required(view):
    """Pages redirect to the login page; JSON callers get a 401 they can act on."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        if request.user.is_authenticated and request.user.is_active:
            return view(request, *args, **kwargs)
        if _wants_json(request) or request.method != "GET":
            return JsonResponse({"code": "unauthenticated", "message": "Log in first."}, status=401)
        return redirect_to_login(request.get_full_path(), settings.LOGIN_URL)

    return wrapper


def _forbidden(request: HttpRequest, message: str) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse({"code": "forbidden", "message": message}, status=403)
    return render(request, "portal/forbidden.html", {"message": message}, status=403)


def _pick_workspace(request: HttpRequest) -> tuple[Workspace | None, list[Workspace]]:
    """The workspace to show (?workspace=, else the one in the session, else the first).

    A ?workspace= the user cannot see (or that is not an id) is a 404; a stale one in the
    session is forgotten quietly.
    """
    visible = list(workspaces_for(request.user).order_by("name"))
    by_id = {str(w.id): w for w in visible}
    asked = request.GET.get("workspace")
    if asked:
        try:
            workspace = by_id.get(str(uuid.UUID(asked)))
        except ValueError:
            workspace = None
        if workspace is None:
            raise Http404("No such workspace.")
    else:
        workspace = by_id.get(request.session.get(SESSION_KEY, "")) or (visible[0] if visible else None)
    if workspace is not None:
        request.session[SESSION_KEY] = str(workspace.id)
    return workspace, visible


@require_GET
@portal_login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    workspace, visible = _pick_workspace(request)
    context = {"workspace": workspace, "workspaces": visible}
    if workspace is not None:
        role = role_in_workspace(request.user, workspace.id)
        context.update(
            role=role,
            can_admin=has_role(role, Role.ADMIN),
            can_send=has_role(role, Role.SENDER),
            data=queries.snapshot(workspace.id),
        )
    return render(request, "portal/dashboard.html", context)


@require_GET
@portal_login_required
def data(request: HttpRequest) -> JsonResponse:
    """The dashboard snapshot as JSON; the page refreshes from it after live events."""
    workspace, _ = _pick_workspace(request)
    if workspace is None:
        raise Http404("No workspace.")
    role = role_in_workspace(request.user, workspace.id)
    body = {"workspace": {"id": str(workspace.id), "name": workspace.name, "role": role}}
    body.update(queries.snapshot(workspace.id))
    return JsonResponse(body)


def _visible_or_404(request: HttpRequest, model, pk) -> tuple[object, str]:
    """An object of a workspace the user sees, with their role there; otherwise 404."""
    obj = get_object_or_404(model, pk=pk)
    role = role_in_workspace(request.user, obj.workspace_id)
    if role is None:
        raise Http404("Not found.")
    return obj, role


def _done(request: HttpRequest, workspace_id, body: dict) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse(body)
    return redirect(f"{reverse('portal:dashboard')}?workspace={workspace_id}")


def _set_paused(request: HttpRequest, channel_id, paused: bool) -> HttpResponse:
    channel, role = _visible_or_404(request, Channel, channel_id)
    if not has_role(role, Role.ADMIN):
        return _forbidden(request, "Pausing and resuming channels needs the admin role in this workspace.")
    actions.set_channel_paused(channel, paused)
    return _done(request, channel.workspace_id, {"id": str(channel.id), "paused": channel.paused})


@require_POST
@portal_login_required
def channel_pause(request: HttpRequest, channel_id) -> HttpResponse:
    return _set_paused(request, channel_id, True)


@require_POST
@portal_login_required
def channel_resume(request: HttpRequest, channel_id) -> HttpResponse:
    return _set_paused(request, channel_id, False)


@require_POST
@portal_login_required
def conversation_read(request: HttpRequest, conversation_id) -> HttpResponse:
    conversation, role = _visible_or_404(request, Conversation, conversation_id)
    if conversation.deleted:
        raise Http404("Not found.")
    if not has_role(role, Role.SENDER):
        return _forbidden(request, "Marking conversations read needs the sender or admin role.")
    marked = actions.mark_conversation_read(conversation, actor=f"portal:{request.user.get_username()}")
    return _done(
        request, conversation.workspace_id, {"id": str(conversation.id), "unreadCount": 0, "marked": marked}
    )
