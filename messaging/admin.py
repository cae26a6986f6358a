"""The Django admin at /admin/.

Scoping: superusers see everything. Any other staff user sees only rows of workspaces
they have a Membership in, and may add/change/delete only where their role is `admin`
(viewers and senders get a read-only admin). One mixin does this for every model:
`WorkspaceScopedAdmin.workspace_path` is the lookup from the model to its workspace
("workspace", "channel__workspace", ...); lists, change pages, foreign-key choices and
object permissions all go through it. Django's per-model permissions are not consulted
for non-superusers: the membership role is the one source of truth, as in the API.

Secrets: hashes and salts are never in a form (prefix at most). Creating an access key,
an endpoint or a service issues the secret and shows it once, in a message after the
save; the "Issue a new secret" action does the same for existing rows. Message status is
read-only here: it changes only through messaging.services.status.
"""

from django import forms
from django.apps import apps
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.db import models
from django.utils.html import format_html

from messaging.errors import ValidationFailed
from messaging.models import (
    PLATFORMS,
    AccessKey,
    AppAuthToken,
    AppDevice,
    AppUser,
    BotCommandAudit,
    Channel,
    Connector,
    Contact,
    ContactIdentifier,
    Conversation,
    EngineRequest,
    LinkClick,
    Media,
    Membership,
    Message,
    MessageEvent,
    MessagingEndpoint,
    Role,
    Service,
    ShortLink,
    SmartLink,
    Tag,
    Template,
    TemplateVersion,
    WebhookAttempt,
    WebhookSubscription,
    Workspace,
)
from messaging.secrets import new_salt
from messaging.services.identifiers import normalize, normalize_phone
from messaging.services.resources import (
    MASK,
    check_webhook_url,
    masked_settings,
    update_template,
    validate_channel_settings,
    validate_events,
    validate_template_content,
)

RELATED_ONLY = admin.RelatedOnlyFieldListFilter


def derived_workspace_path(model, depth: int = 0) -> str | None:
    """The lookup from `model` to its workspace, following required foreign keys."""
    if model is Workspace:
        return "pk"
    fields = [f for f in model._meta.concrete_fields if f.many_to_one and f.related_model is not model]
    for field in fields:
        if field.related_model is Workspace:
            return field.name
    if depth >= 3:
        return None
    for field in fields:
        if field.null:
            continue
        sub = derived_workspace_path(field.related_model, depth + 1)
        if sub:
            return f"{field.name}__{sub}"
    return None


def workspace_id_of(obj, path: str):
    """Follow `path` on an instance to its workspace id (None when a link is empty)."""
    if path == "pk":
        return obj.pk
    *hops, last = path.split("__")
    for hop in hops:
        obj = getattr(obj, hop)
        if obj is None:
            return None
    return getattr(obj, f"{last}_id")


# --- the scoping mixin -----------------------------------------------------------------


class WorkspaceScopedAdmin(admin.ModelAdmin):
    workspace_path: str | None = "workspace"  # None: only superusers see the model
    read_only = False  # logs and histories: nobody adds, changes or deletes them here

    # membership lookups, cached on the request
    def roles(self, request) -> dict:
        if not hasattr(request, "_switchboard_roles"):
            request._switchboard_roles = dict(
                Membership.objects.filter(user=request.user).values_list("workspace_id", "role")
            )
        return request._switchboard_roles

    def workspace_ids(self, request, admin_only: bool = False) -> set:
        return {ws for ws, role in self.roles(request).items() if not admin_only or role == Role.ADMIN}

    def object_role(self, request, obj) -> str | None:
        ws = workspace_id_of(obj, self.workspace_path)
        return self.roles(request).get(ws)

    # rows
    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        if self.workspace_path is None:
            return qs.none()
        return qs.filter(**{f"{self.workspace_path}__in": self.workspace_ids(request)})

    # permissions
    def has_module_permission(self, request) -> bool:
        if request.user.is_superuser:
            return True
        return request.user.is_active and request.user.is_staff and self.has_view_permission(request)

    def has_view_permission(self, request, obj=None) -> bool:
        if request.user.is_superuser:
            return True
        if self.workspace_path is None or not request.user.is_staff:
            return False
        if obj is None:
            return bool(self.roles(request))
        return self.object_role(request, obj) is not None

    def _may_write(self, request, obj=None) -> bool:
        if self.read_only:
            return False
        if request.user.is_superuser:
            return True
        if self.workspace_path is None or not request.user.is_staff:
            return False
        if obj is None:
            return bool(self.workspace_ids(request, admin_only=True))
        return self.object_role(request, obj) == Role.ADMIN

    def has_add_permission(self, request, obj=None) -> bool:
        return self._may_write(request)

    def has_change_permission(self, request, obj=None) -> bool:
        return self._may_write(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return self._may_write(request, obj)

    # choices: only workspaces (and their objects) where the user is an admin
    def scoped_choices(self, request, model):
        if model is Workspace:
            return Workspace.objects.filter(pk__in=self.workspace_ids(request, admin_only=True))
        if model is get_user_model():
            shared = Membership.objects.filter(workspace_id__in=self.workspace_ids(request, admin_only=True))
            return model._default_manager.filter(pk__in=shared.values("user_id"))
        path = derived_workspace_path(model)
        if path is None:
            return model._default_manager.none()
        return model._default_manager.filter(**{f"{path}__in": self.workspace_ids(request, admin_only=True)})

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if not request.user.is_superuser:
            kwargs["queryset"] = self.scoped_choices(request, db_field.related_model)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if not request.user.is_superuser:
            kwargs["queryset"] = self.scoped_choices(request, db_field.related_model)
        return super().formfield_for_manytomany(db_field, request, **kwargs)


class ScopedInline:
    """Inlines follow their parent admin's rules (the parent already checked the object)."""

    def has_add_permission(self, request, obj=None) -> bool:
        return obj is None or self._parent_may_write(request, obj)

    def has_change_permission(self, request, obj=None) -> bool:
        return obj is None or self._parent_may_write(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return obj is None or self._parent_may_write(request, obj)

    def has_view_permission(self, request, obj=None) -> bool:
        return True

    def _parent_may_write(self, request, obj) -> bool:
        parent = admin.site._registry[type(obj)]
        return parent.has_change_permission(request, obj)


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_view_permission(self, request, obj=None) -> bool:
        return True


# --- secrets shown once -------------------------------------------------------------------


def show_secret_once(request, label: str, obj, secret: str) -> None:
    messages.success(
        request,
        format_html(
            "{} of “{}”: <code>{}</code> — copy it now, it is not shown again.",
            label,
            obj,
            secret,
        ),
    )


class IssuesSecretAdmin(WorkspaceScopedAdmin):
    """Admin of a HashedSecretMixin model: the secret is made on creation and shown once."""

    secret_label = "Key"
    actions = ["issue_new_secret"]

    @admin.display(description="Key prefix")
    def prefix(self, obj) -> str:
        return f"{obj.token_prefix}…" if obj.token_prefix else "-"

    def save_model(self, request, obj, form, change):
        secret = None if change else obj.set_token()
        super().save_model(request, obj, form, change)
        if secret:
            show_secret_once(request, self.secret_label, obj, secret)

    @admin.action(description="Issue a new secret (the old one stops working)", permissions=["change"])
    def issue_new_secret(self, request, queryset):
        for obj in queryset:
            if not self.has_change_permission(request, obj):
                continue
            secret = obj.set_token()
            obj.save(update_fields=["token_prefix", "token_hash"])
            show_secret_once(request, f"New {self.secret_label.lower()}", obj, secret)


# --- tenancy -------------------------------------------------------------------------------


@admin.register(Workspace)
class WorkspaceAdmin(WorkspaceScopedAdmin):
    workspace_path = "pk"
    list_display = ["name", "timezone", "default_region", "created_at"]
    search_fields = ["name"]
    readonly_fields = ["id", "created_at"]

    def has_add_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser  # new tenants are an operator decision

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser


@admin.register(Membership)
class MembershipAdmin(WorkspaceScopedAdmin):
    list_display = ["user", "workspace", "role"]
    list_filter = ["role", ("workspace", RELATED_ONLY)]
    search_fields = ["user__username", "workspace__name"]
    list_select_related = ["user", "workspace"]


@admin.register(AccessKey)
class AccessKeyAdmin(IssuesSecretAdmin):
    secret_label = "Access key"
    list_display = ["name", "workspace", "role", "prefix", "active", "created_at", "last_used_at"]
    list_filter = ["role", "active", ("workspace", RELATED_ONLY)]
    search_fields = ["name", "token_prefix"]
    fields = ["workspace", "name", "role", "active", "prefix", "created_at", "last_used_at"]
    readonly_fields = ["prefix", "created_at", "last_used_at"]
    list_select_related = ["workspace"]


# --- channels ------------------------------------------------------------------------------


class ChannelForm(forms.ModelForm):
    """Connector settings with secret values masked; a mask sent back keeps the old value."""

    class Meta:
        model = Channel
        fields = ["workspace", "name", "platform", "connector", "message_type", "status", "paused", "settings"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["settings"] = masked_settings(self.instance.settings)

    def clean_settings(self):
        value = self.cleaned_data.get("settings") or {}
        if not isinstance(value, dict):
            raise forms.ValidationError("Settings must be a JSON object.")
        old = self.instance.settings if self.instance.pk else {}
        return {k: (old.get(k) if v == MASK and k in old else v) for k, v in value.items()}

    def clean_platform(self):
        platform = (self.cleaned_data.get("platform") or "").strip().lower()
        if platform not in PLATFORMS:
            raise forms.ValidationError(f"{platform!r} is not one of {', '.join(PLATFORMS)}")
        return platform

    def clean(self):
        cleaned = super().clean()
        # On a change page the connector is read-only, so it is not in cleaned_data.
        connector = cleaned.get("connector") or self.instance.connector
        if connector and "settings" in cleaned:
            try:
                cleaned["settings"] = validate_channel_settings(connector, cleaned["settings"])
            except ValidationFailed as exc:
                self.add_error("settings", exc.message)
        return cleaned


class EndpointInline(ReadOnlyInline):
    model = MessagingEndpoint
    fields = ["name", "connection_state", "connected", "send_permission", "read_permission", "last_seen_at"]
    readonly_fields = fields
    show_change_link = True


@admin.register(Channel)
class ChannelAdmin(WorkspaceScopedAdmin):
    form = ChannelForm
    list_display = ["name", "workspace", "platform", "connector", "message_type", "status", "paused", "created_at"]
    list_filter = ["platform", "connector", "status", "paused", ("workspace", RELATED_ONLY)]
    search_fields = ["name"]
    readonly_fields = ["id", "created_at", "updated_at"]
    inlines = [EndpointInline]
    actions = ["rotate_inbound_secret"]
    list_select_related = ["workspace"]

    def get_readonly_fields(self, request, obj=None):
        # Platform and connector define what a channel is; they do not change later.
        extra = ["platform", "connector"] if obj is not None else []
        return [*self.readonly_fields, *extra]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change:
            return
        if obj.connector in (Connector.SANDBOX, Connector.WEBHOOK):
            show_secret_once(request, "Inbound signing secret", obj, obj.inbound_secret)
        if obj.connector == Connector.ENGINE:
            endpoint = MessagingEndpoint(channel=obj, name="Phone 1")
            token = endpoint.set_token()
            endpoint.save()
            show_secret_once(request, "Endpoint token", endpoint, token)

    @admin.action(description="Rotate the inbound signing secret", permissions=["change"])
    def rotate_inbound_secret(self, request, queryset):
        for channel in queryset:
            if not self.has_change_permission(request, channel):
                continue
            channel.inbound_salt = new_salt()
            channel.save(update_fields=["inbound_salt", "updated_at"])
            show_secret_once(request, "New inbound signing secret", channel, channel.inbound_secret)


@admin.register(MessagingEndpoint)
class MessagingEndpointAdmin(IssuesSecretAdmin):
    workspace_path = "channel__workspace"
    secret_label = "Endpoint token"
    list_display = ["name", "channel", "prefix", "connection_state", "connected", "last_seen_at"]
    list_filter = ["connected", "connection_state", ("channel", RELATED_ONLY)]
    search_fields = ["name", "token_prefix"]
    fields = [
        "channel",
        "name",
        "prefix",
        "connection_state",
        "connected",
        "send_permission",
        "read_permission",
        "last_seen_at",
        "created_at",
    ]
    readonly_fields = [
        "prefix",
        "connection_state",
        "connected",
        "send_permission",
        "read_permission",
        "last_seen_at",
        "created_at",
    ]
    list_select_related = ["channel"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "channel":
            field.queryset = field.queryset.filter(connector=Connector.ENGINE)
        return field


# --- contacts ------------------------------------------------------------------------------


class IdentifierFormSet(forms.BaseInlineFormSet):
    """Identifiers are normalised like everywhere else (E.164, lower-cased emails)."""

    def clean(self):
        super().clean()
        workspace = self.instance.workspace if self.instance.workspace_id else None
        region = workspace.default_region if workspace else "US"
        seen: set[tuple[str, str]] = set()
        for form in self.forms:
            data = getattr(form, "cleaned_data", None)
            if not data or data.get("DELETE") or not data.get("key"):
                continue
            try:
                value = normalize(data["key"], data.get("value"), region, field="value")
            except ValidationFailed as exc:
                form.add_error("value", "; ".join(exc.details.get("value", [exc.message])))
                continue
            data["value"] = form.instance.value = value
            if (data["key"], value) in seen:
                form.add_error("value", "is listed twice")
            seen.add((data["key"], value))
            if workspace is not None and self._taken(workspace, data["key"], value):
                form.add_error("value", f"{value} already belongs to another contact of this workspace")

    def _taken(self, workspace, key: str, value: str) -> bool:
        # The unique constraint includes the workspace, which is not a form field, so
        # Django's own unique check skips it; without this a duplicate would be a 500.
        others = ContactIdentifier.objects.filter(workspace=workspace, key=key, value=value)
        if self.instance.pk:
            others = others.exclude(contact=self.instance)
        return others.exists()


class IdentifierInline(ScopedInline, admin.TabularInline):
    model = ContactIdentifier
    formset = IdentifierFormSet
    fields = ["key", "value"]
    extra = 1


@admin.register(Contact)
class ContactAdmin(WorkspaceScopedAdmin):
    list_display = ["__str__", "workspace", "identifier_list", "global_holdout", "created_at"]
    list_filter = ["global_holdout", ("workspace", RELATED_ONLY)]
    search_fields = ["display_name", "identifiers__value"]
    readonly_fields = ["id", "created_at", "updated_at"]
    inlines = [IdentifierInline]
    list_select_related = ["workspace"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("identifiers")

    @admin.display(description="Identifiers")
    def identifier_list(self, obj) -> str:
        return ", ".join(str(i) for i in obj.identifiers.all()) or "-"

    def save_formset(self, request, form, formset, change):
        # The identifier's workspace is the contact's, never a choice.
        for inline_form in formset.forms:
            if inline_form.instance.contact_id is None or not inline_form.instance.workspace_id:
                inline_form.instance.workspace_id = form.instance.workspace_id
        super().save_formset(request, form, formset, change)


@admin.register(ContactIdentifier)
class ContactIdentifierAdmin(WorkspaceScopedAdmin):
    read_only = True  # edited inline on the contact, where they are normalised
    list_display = ["key", "value", "contact", "workspace"]
    list_filter = ["key", ("workspace", RELATED_ONLY)]
    search_fields = ["value"]


@admin.register(Tag)
class TagAdmin(WorkspaceScopedAdmin):
    list_display = ["name", "workspace", "created_at"]
    list_filter = [("workspace", RELATED_ONLY)]
    search_fields = ["name"]
    readonly_fields = ["created_at"]

    def save_model(self, request, obj, form, change):
        obj.name = obj.name.strip().lower()  # tags are lower-case (SPEC §2)
        super().save_model(request, obj, form, change)


class TemplateVersionInline(ReadOnlyInline):
    model = TemplateVersion
    fields = ["version", "content", "created_at"]
    readonly_fields = fields


def form_error(exc: ValidationFailed) -> forms.ValidationError:
    return forms.ValidationError("; ".join(f"{field}: {', '.join(msgs)}" for field, msgs in exc.details.items()))


class TemplateForm(forms.ModelForm):
    class Meta:
        model = Template
        fields = ["workspace", "name", "locale", "content"]

    def clean_content(self):
        try:
            return validate_template_content(self.cleaned_data.get("content"))
        except ValidationFailed as exc:
            raise form_error(exc) from None


@admin.register(Template)
class TemplateAdmin(WorkspaceScopedAdmin):
    form = TemplateForm
    list_display = ["name", "locale", "version", "workspace", "updated_at"]
    list_filter = ["locale", ("workspace", RELATED_ONLY)]
    search_fields = ["name"]
    readonly_fields = ["id", "version", "created_at", "updated_at"]
    inlines = [TemplateVersionInline]

    def save_model(self, request, obj, form, change):
        if not change:
            # As services.resources.create_template: version 1 is kept like every later one.
            super().save_model(request, obj, form, change)
            TemplateVersion.objects.create(template=obj, version=obj.version, content=obj.content)
            return
        # An edit is a new version, made by the service (row lock, history kept).
        current = Template.objects.get(pk=obj.pk)
        updated = update_template(current, name=obj.name, locale=obj.locale, content=obj.content)
        obj.version, obj.updated_at = updated.version, updated.updated_at


@admin.register(TemplateVersion)
class TemplateVersionAdmin(WorkspaceScopedAdmin):
    workspace_path = "template__workspace"
    read_only = True
    list_display = ["template", "version", "created_at"]
    search_fields = ["template__name"]


@admin.register(SmartLink)
class SmartLinkAdmin(WorkspaceScopedAdmin):
    list_display = ["linkid", "url", "validity", "active", "workspace", "created_at"]
    list_filter = ["active", ("workspace", RELATED_ONLY)]
    search_fields = ["url"]
    readonly_fields = ["created_at"]


class LinkClickInline(ReadOnlyInline):
    model = LinkClick
    fields = ["at", "ip", "user_agent"]
    readonly_fields = fields
    ordering = ["-at"]


@admin.register(ShortLink)
class ShortLinkAdmin(WorkspaceScopedAdmin):
    read_only = True
    list_display = ["code", "url", "smartlink", "message", "contact", "click_count", "expires_at", "created_at"]
    list_filter = [("workspace", RELATED_ONLY)]
    search_fields = ["code", "url"]
    inlines = [LinkClickInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(clicks_total=models.Count("clicks"))

    @admin.display(description="clicks", ordering="clicks_total")
    def click_count(self, obj) -> int:
        return obj.clicks_total


# --- integrations --------------------------------------------------------------------------


@admin.register(Service)
class ServiceAdmin(IssuesSecretAdmin):
    secret_label = "Service key"
    list_display = ["name", "workspace", "prefix", "active", "notify_url", "created_at"]
    list_filter = ["active", ("workspace", RELATED_ONLY)]
    search_fields = ["name", "token_prefix"]
    fields = ["workspace", "name", "active", "notify_url", "default_priority", "channel_map", "prefix", "created_at"]
    readonly_fields = ["prefix", "created_at"]
    list_select_related = ["workspace"]


class AppUserForm(forms.ModelForm):
    new_password = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Required for a new user; leave blank to keep the current password.",
    )

    class Meta:
        model = AppUser
        fields = ["workspace", "username", "msisdn", "active", "blocked"]

    def clean(self):
        cleaned = super().clean()
        if not self.instance.pk and not cleaned.get("new_password"):
            self.add_error("new_password", "A new app user needs a password.")
        msisdn = cleaned.get("msisdn")
        workspace = cleaned.get("workspace")
        if msisdn and workspace:
            try:
                cleaned["msisdn"] = normalize_phone(msisdn, workspace.default_region)
            except ValueError as exc:
                self.add_error("msisdn", str(exc))
        return cleaned

    def save(self, commit=True):
        user = super().save(commit=False)
        if self.cleaned_data.get("new_password"):
            user.set_password(self.cleaned_data["new_password"])
        if commit:
            user.save()
        return user


@admin.register(AppUser)
class AppUserAdmin(WorkspaceScopedAdmin):
    form = AppUserForm
    list_display = ["username", "workspace", "msisdn", "active", "blocked", "created_at"]
    list_filter = ["active", "blocked", ("workspace", RELATED_ONLY)]
    search_fields = ["username", "msisdn"]
    readonly_fields = ["created_at"]


@admin.register(AppDevice)
class AppDeviceAdmin(WorkspaceScopedAdmin):
    workspace_path = "app_user__workspace"
    read_only = True
    list_display = ["device_id", "app_user", "last_sync_at"]
    search_fields = ["device_id", "app_user__username"]


@admin.register(AppAuthToken)
class AppAuthTokenAdmin(WorkspaceScopedAdmin):
    workspace_path = "app_user__workspace"
    list_display = ["app_user", "prefix", "device", "created_at", "expires_at"]
    fields = ["app_user", "device", "prefix", "created_at", "expires_at"]
    readonly_fields = fields
    search_fields = ["app_user__username", "token_prefix"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False  # issued by the login of the 003 dialect

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="Token prefix")
    def prefix(self, obj) -> str:
        return f"{obj.token_prefix}…"


# --- conversations and messages --------------------------------------------------------------


@admin.register(Conversation)
class ConversationAdmin(WorkspaceScopedAdmin):
    read_only = True
    list_display = ["id", "workspace", "channel", "external_id", "unread_count", "deleted", "updated_at"]
    list_filter = ["deleted", ("channel", RELATED_ONLY), ("workspace", RELATED_ONLY)]
    search_fields = ["external_id", "participants__identifiers__value"]
    list_select_related = ["workspace", "channel"]


class MessageEventInline(ReadOnlyInline):
    model = MessageEvent
    fields = ["at", "status", "reason", "actor"]
    readonly_fields = fields
    ordering = ["at", "id"]


@admin.register(Message)
class MessageAdmin(WorkspaceScopedAdmin):
    # Read-only: status changes only through messaging.services.status (forward-only,
    # with an event per change); an edit form here would bypass that.
    read_only = True
    list_display = ["id", "workspace", "channel", "direction", "status", "to_or_from", "created_at"]
    list_filter = ["status", "direction", ("channel", RELATED_ONLY), ("workspace", RELATED_ONLY)]
    search_fields = ["reference", "external_id", "transid", "contact__identifiers__value"]
    date_hierarchy = "created_at"
    inlines = [MessageEventInline]
    list_select_related = ["workspace", "channel"]
    show_full_result_count = False  # a COUNT(*) over millions of rows per page view is wasteful

    @admin.display(description="To / from")
    def to_or_from(self, obj) -> str:
        party = obj.sender if obj.direction == "incoming" else obj.receiver
        contacts = (party or {}).get("contacts") or []
        values = [c.get("identifierValue", "") for c in contacts if isinstance(c, dict)]
        if not values and isinstance(party, dict):
            values = [str(v) for v in party.values() if isinstance(v, str)]
        return ", ".join(values[:3]) + (" …" if len(values) > 3 else "") or "-"


@admin.register(MessageEvent)
class MessageEventAdmin(WorkspaceScopedAdmin):
    workspace_path = "message__workspace"
    read_only = True
    list_display = ["message", "status", "reason", "actor", "at"]
    list_filter = ["status"]
    search_fields = ["actor", "reason"]


# --- webhooks, media, bot, engine ------------------------------------------------------------


class WebhookAttemptInline(ReadOnlyInline):
    model = WebhookAttempt
    fk_name = "subscription"
    fields = ["at", "event_type", "attempt", "status_code", "duration_ms", "succeeded", "error"]
    readonly_fields = fields
    ordering = ["-at"]
    max_num = 20


class WebhookSubscriptionForm(forms.ModelForm):
    """The same checks as the API: known events, and a URL the SSRF guard accepts."""

    class Meta:
        model = WebhookSubscription
        fields = ["workspace", "url", "events", "active"]

    def clean_url(self):
        url = self.cleaned_data.get("url")
        try:
            check_webhook_url(url)
        except ValidationFailed as exc:
            raise form_error(exc) from None
        return url

    def clean_events(self):
        events = self.cleaned_data.get("events")
        if not isinstance(events, list):
            raise forms.ValidationError('Events must be a JSON list, e.g. ["sms.outbound"].')
        try:
            return validate_events(events)
        except ValidationFailed as exc:
            raise form_error(exc) from None


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(WorkspaceScopedAdmin):
    form = WebhookSubscriptionForm
    list_display = ["url", "workspace", "events", "active", "disabled_reason", "created_at"]
    list_filter = ["active", ("workspace", RELATED_ONLY)]
    search_fields = ["url"]
    readonly_fields = ["id", "disabled_reason", "created_at"]
    inlines = [WebhookAttemptInline]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change:
            show_secret_once(request, "Signing key", obj, obj.signing_key)


@admin.register(WebhookAttempt)
class WebhookAttemptAdmin(WorkspaceScopedAdmin):
    read_only = True
    list_display = ["at", "event_type", "url", "attempt", "status_code", "duration_ms", "succeeded", "excerpt"]
    list_filter = ["succeeded", "event_type", ("workspace", RELATED_ONLY)]
    search_fields = ["url", "webhook_id", "event_type"]

    @admin.display(description="Response")
    def excerpt(self, obj) -> str:
        text = obj.error or obj.response_excerpt
        return text[:80] + ("…" if len(text) > 80 else "")


@admin.register(Media)
class MediaAdmin(WorkspaceScopedAdmin):
    read_only = True
    list_display = ["id", "workspace", "content_type", "size", "uploaded_at", "expires_at"]
    list_filter = ["content_type", ("workspace", RELATED_ONLY)]


@admin.register(BotCommandAudit)
class BotCommandAuditAdmin(WorkspaceScopedAdmin):
    read_only = True
    list_display = ["at", "workspace", "operator", "command", "ok"]
    list_filter = ["ok", ("workspace", RELATED_ONLY)]
    search_fields = ["operator", "command"]


@admin.register(EngineRequest)
class EngineRequestAdmin(WorkspaceScopedAdmin):
    workspace_path = "endpoint__channel__workspace"
    read_only = True
    list_display = ["token", "endpoint", "action", "created_at", "answered_at", "outcome"]
    list_filter = ["action"]
    search_fields = ["token"]


# --- everything else (bookkeeping models, and models added after this file) ------------------


def register_remaining() -> None:
    """A read-only, workspace-scoped admin for every messaging model not registered above."""
    for model in apps.get_app_config("messaging").get_models():
        if admin.site.is_registered(model):
            continue
        names = [f.name for f in model._meta.concrete_fields if not isinstance(f, models.JSONField | models.TextField)]
        attrs = {
            "workspace_path": derived_workspace_path(model),
            "read_only": True,
            "list_display": names[:7],
            "__module__": __name__,
        }
        admin.site.register(model, type(f"{model.__name__}Admin", (WorkspaceScopedAdmin,), attrs))


register_remaining()
