"""Switchboard's domain model (SPEC §2).

Every object belongs to a workspace; every query that serves a caller filters by it.
Public ids are UUIDs. Secrets are never stored in plaintext (see messaging.secrets).
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone as dj_tz

from messaging import secrets as sec

# --- choices ---------------------------------------------------------------------------


class Role(models.TextChoices):
    VIEWER = "viewer"
    SENDER = "sender"
    ADMIN = "admin"


ROLE_RANK = {Role.VIEWER: 0, Role.SENDER: 1, Role.ADMIN: 2}

PLATFORMS = ["sms", "email", "appmessaging", "whatsapp", "push", "telegram", "messenger", "webhook", "voice"]


class Connector(models.TextChoices):
    SANDBOX = "sandbox"
    ENGINE = "engine"
    SMTP = "smtp"
    WEBHOOK = "webhook"
    APP = "app"


class MessageType(models.TextChoices):
    PROMOTIONAL = "promotional"
    CONVERSATIONAL = "conversational"
    TRANSACTIONAL = "transactional"
    TWO_FA = "2fa"


DEFAULT_VALIDITY = {MessageType.TWO_FA: 600}
DEFAULT_VALIDITY_SECONDS = 129600


class Direction(models.TextChoices):
    OUTGOING = "outgoing"
    INCOMING = "incoming"


class Status(models.TextChoices):
    ACCEPTED = "accepted"
    SCHEDULED = "scheduled"
    PROCESSING = "processing"
    SENT = "sent"
    DELIVERED = "delivered"
    SENDING_FAILED = "sending_failed"
    DELIVERY_FAILED = "delivery_failed"
    EXPIRED = "expired"
    SKIPPED = "skipped"
    CANCELED = "canceled"


FINAL_STATUSES = {
    Status.DELIVERED,
    Status.SENDING_FAILED,
    Status.DELIVERY_FAILED,
    Status.EXPIRED,
    Status.SKIPPED,
    Status.CANCELED,
}
PENDING_STATUSES = {Status.ACCEPTED, Status.SCHEDULED, Status.PROCESSING}


class IdentifierKey(models.TextChoices):
    PHONENUMBER = "phonenumber"
    EMAILADDRESS = "emailaddress"
    CUSTOMERID = "customerid"
    USERID = "userid"


# --- tenancy and credentials -------------------------------------------------------------


class Workspace(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200, unique=True)
    timezone = models.CharField(max_length=64, default="UTC")
    default_region = models.CharField(max_length=2, default="US", help_text="ISO 3166 region for national numbers")
    quiet_hours_start = models.TimeField(null=True, blank=True, help_text="Local time marketing sends pause")
    quiet_hours_end = models.TimeField(null=True, blank=True, help_text="Local time marketing sends resume")
    frequency_cap_count = models.PositiveIntegerField(
        null=True, blank=True, help_text="Max marketing messages per contact per period (capFrequency)"
    )
    frequency_cap_period_seconds = models.PositiveIntegerField(default=86400)
    operator_identifiers = models.JSONField(
        default=list, blank=True, help_text="Identifiers (E.164 numbers, emails) allowed to send /commands to the bot"
    )
    # Count the changes of the workspace's webhook subscriptions and of its channels,
    # bumped with each change: a process keeps what it read of them and reads again only
    # when a freshly loaded workspace row shows another count (messaging.services.versioned).
    webhooks_version = models.PositiveBigIntegerField(default=0, editable=False)
    channels_version = models.PositiveBigIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(default=dj_tz.now)

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "workspace"], name="membership_unique")]

    def __str__(self) -> str:
        return f"{self.user} in {self.workspace} ({self.role})"


class HashedSecretMixin(models.Model):
    """A credential stored as prefix + SHA-256; `issue()` returns the plaintext once."""

    token_prefix = models.CharField(max_length=sec.PREFIX_LEN, db_index=True, editable=False)
    token_hash = models.CharField(max_length=64, editable=False)

    TOKEN_KIND = "sb"

    class Meta:
        abstract = True

    def set_token(self) -> str:
        token = sec.new_token(self.TOKEN_KIND)
        self.token_prefix = sec.token_prefix(token)
        self.token_hash = sec.hash_token(token)
        return token

    def check_token(self, token: str) -> bool:
        return sec.token_matches(token, self.token_hash)

    @classmethod
    def find_by_token(cls, token: str, queryset=None):
        """The object whose token this is, or None; constant-time on the hash."""
        if not token or len(token) < sec.PREFIX_LEN:
            return None
        qs = queryset if queryset is not None else cls.objects.all()
        return cls._matching(token, qs.filter(token_prefix=sec.token_prefix(token)))

    @classmethod
    def find_by_token_with(cls, token: str, parent: str, **equals):
        """find_by_token, with the foreign key `parent` loaded and the rows narrowed by
        `equals`, in one written-out SELECT (messaging.db): every API request authenticates
        here, and building the ORM query cost more than running it."""
        from messaging import db

        if not token or len(token) < sec.PREFIX_LEN:
            return None
        return cls._matching(token, db.all_with_parent(cls, parent, token_prefix=sec.token_prefix(token), **equals))

    @staticmethod
    def _matching(token: str, candidates):
        for candidate in candidates:
            if candidate.check_token(token):
                return candidate
        return None


class AccessKey(HashedSecretMixin):
    TOKEN_KIND = "sbk"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="access_keys")
    name = models.CharField(max_length=200)
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.SENDER)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=dj_tz.now)
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.role})"


# --- channels --------------------------------------------------------------------------


class Channel(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="channels")
    name = models.CharField(max_length=200)
    platform = models.CharField(max_length=30)
    connector = models.CharField(max_length=20, choices=Connector.choices)
    message_type = models.CharField(max_length=20, choices=MessageType.choices, default=MessageType.TRANSACTIONAL)
    status = models.CharField(max_length=10, choices=[("active", "active"), ("inactive", "inactive")], default="active")
    paused = models.BooleanField(default=False, help_text="Paused channels accept messages but send nothing")
    settings = models.JSONField(default=dict, blank=True)
    inbound_salt = models.CharField(max_length=32, default=sec.new_salt, editable=False)
    created_at = models.DateTimeField(default=dj_tz.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="channel_name_unique")]
        indexes = [models.Index(fields=["workspace", "created_at", "id"], name="channel_ws_page")]

    def __str__(self) -> str:
        return f"{self.name} ({self.platform}/{self.connector})"

    @property
    def inbound_secret(self) -> str:
        return sec.derive_whsec("channel-inbound", self.id, self.inbound_salt)

    @property
    def default_validity(self) -> int:
        return DEFAULT_VALIDITY.get(self.message_type, DEFAULT_VALIDITY_SECONDS)


class MessagingEndpoint(HashedSecretMixin):
    """A phone of an `engine` channel (seed 000)."""

    TOKEN_KIND = "sbd"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="endpoints")
    name = models.CharField(max_length=200)
    connection_state = models.CharField(max_length=20, default="DISCONNECTED")
    send_permission = models.CharField(max_length=3, default="OFF")
    read_permission = models.CharField(max_length=3, default="OFF")
    connected = models.BooleanField(default=False, help_text="A websocket session is open right now")
    channel_name = models.CharField(max_length=200, blank=True, help_text="Channel-layer name of the open session")
    last_seen_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=dj_tz.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["channel", "name"], name="endpoint_name_unique")]

    def __str__(self) -> str:
        return self.name


# --- contacts ----------------------------------------------------------------------------


class Contact(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="contacts")
    display_name = models.CharField(max_length=200, blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    opt_outs = models.JSONField(default=list, blank=True, help_text="Platforms this contact opted out of")
    global_holdout = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=dj_tz.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["workspace", "created_at", "id"], name="contact_ws_page")]

    def __str__(self) -> str:
        return self.display_name or str(self.id)


class ContactIdentifier(models.Model):
    # No index of its own: identifier_unique_per_workspace leads with it. On young
    # statistics PostgreSQL picked the single-column index for the send's identifier lookup
    # and filtered the workspace's every identifier (~1,000 rows read per send).
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+", db_index=False)
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="identifiers")
    key = models.CharField(max_length=20, choices=IdentifierKey.choices)
    value = models.CharField(max_length=320)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "key", "value"], name="identifier_unique_per_workspace")
        ]

    def __str__(self) -> str:
        return f"{self.key}:{self.value}"


class Tag(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="tags")
    name = models.CharField(max_length=100)
    created_at = models.DateTimeField(default=dj_tz.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="tag_name_unique")]
        indexes = [models.Index(fields=["workspace", "created_at", "id"], name="tag_ws_page")]

    def __str__(self) -> str:
        return self.name


class Template(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="templates")
    name = models.CharField(max_length=200)
    locale = models.CharField(max_length=20, default="en")
    version = models.PositiveIntegerField(default=1)
    content = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=dj_tz.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "name", "locale"], name="template_name_unique")]
        indexes = [models.Index(fields=["workspace", "created_at", "id"], name="template_ws_page")]

    def __str__(self) -> str:
        return f"{self.name} [{self.locale}] v{self.version}"


class TemplateVersion(models.Model):
    """Every version's content is kept so a send can ask for an older one."""

    template = models.ForeignKey(Template, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    content = models.JSONField()
    created_at = models.DateTimeField(default=dj_tz.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["template", "version"], name="template_version_unique")]


class SmartLink(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="smartlinks")
    linkid = models.PositiveBigIntegerField()
    url = models.URLField(max_length=2000)
    validity = models.PositiveIntegerField(default=1440, help_text="Minutes a generated short link stays valid")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=dj_tz.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "linkid"], name="smartlink_linkid_unique")]
        indexes = [models.Index(fields=["workspace", "created_at", "id"], name="smartlink_ws_page")]

    def __str__(self) -> str:
        return f"{self.linkid} → {self.url}"


# --- integrations of the compatibility dialects ---------------------------------------------


class Service(HashedSecretMixin):
    """An integration: its key is the 002 `key` header and the 003/004 `apiKey`."""

    TOKEN_KIND = "sbs"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="services")
    name = models.CharField(max_length=200)
    active = models.BooleanField(default=True)
    notify_url = models.URLField(max_length=2000, blank=True)
    default_priority = models.PositiveSmallIntegerField(default=2)
    channel_map = models.JSONField(default=dict, blank=True, help_text="platform → channel id")
    created_at = models.DateTimeField(default=dj_tz.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="service_name_unique")]

    def __str__(self) -> str:
        return self.name


class AppUser(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="app_users")
    username = models.CharField(max_length=150)
    password = models.CharField(max_length=128)
    msisdn = models.CharField(max_length=20, blank=True)
    active = models.BooleanField(default=True, help_text="Account activated")
    blocked = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=dj_tz.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "username"], name="appuser_username_unique"),
            models.UniqueConstraint(
                fields=["workspace", "msisdn"], condition=~Q(msisdn=""), name="appuser_msisdn_unique"
            ),
        ]
        # The 004 dialect logs in by username alone, across workspaces (no api key).
        indexes = [models.Index(fields=["username"], name="appuser_username")]

    def __str__(self) -> str:
        return self.username

    def set_password(self, raw: str) -> None:
        from django.contrib.auth.hashers import make_password

        self.password = make_password(raw)

    def check_password(self, raw: str) -> bool:
        from django.contrib.auth.hashers import check_password

        return check_password(raw, self.password)


class AppDevice(models.Model):
    app_user = models.ForeignKey(AppUser, on_delete=models.CASCADE, related_name="devices")
    device_id = models.CharField(max_length=200)
    last_sync_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["app_user", "device_id"], name="appdevice_unique")]


class AppAuthToken(HashedSecretMixin):
    TOKEN_KIND = "sbu"

    app_user = models.ForeignKey(AppUser, on_delete=models.CASCADE, related_name="auth_tokens")
    device = models.ForeignKey(AppDevice, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=dj_tz.now)
    expires_at = models.DateTimeField(null=True, blank=True)


# --- conversations and messages --------------------------------------------------------------


class Conversation(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="conversations")
    channel = models.ForeignKey(Channel, null=True, blank=True, on_delete=models.CASCADE, related_name="conversations")
    endpoint = models.ForeignKey(MessagingEndpoint, null=True, blank=True, on_delete=models.SET_NULL)
    external_id = models.CharField(max_length=200, blank=True, help_text="Id reported by the device")
    thread = models.CharField(
        max_length=200, blank=True, help_text="The seed-002 appmessaging thread_id this app conversation is for"
    )
    participants = models.ManyToManyField(Contact, blank=True, related_name="conversations")
    app_users = models.ManyToManyField(AppUser, blank=True, related_name="conversations")
    unread_count = models.PositiveIntegerField(default=0)
    deleted = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=dj_tz.now)
    updated_at = models.DateTimeField(default=dj_tz.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "external_id"], condition=~Q(external_id=""), name="conversation_external_unique"
            )
        ]
        indexes = [models.Index(fields=["workspace", "updated_at"], name="conversation_ws_recent")]


class Message(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Foreign keys without an index of their own where a composite index in Meta starts
    # with the column, or with a partial one (NOT NULL rows only) where the column is
    # mostly empty: every message insert updates each index, and there were 20.
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="messages", db_index=False)
    channel = models.ForeignKey(
        Channel, null=True, blank=True, on_delete=models.PROTECT, related_name="messages", db_index=False
    )
    direction = models.CharField(max_length=10, choices=Direction.choices, default=Direction.OUTGOING)
    sender = models.JSONField(default=dict, blank=True)
    receiver = models.JSONField(default=dict, blank=True, help_text='{"contacts": [{id, identifierKey, identifierValue}]}')
    contacts = models.ManyToManyField(Contact, blank=True, related_name="messages")
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", help_text="First receiver (or sender)"
    )
    body = models.JSONField(default=dict, blank=True)
    template = models.ForeignKey(Template, null=True, blank=True, on_delete=models.SET_NULL, db_index=False)
    template_info = models.JSONField(default=dict, blank=True, help_text="The request's template block")
    reference = models.CharField(max_length=200, blank=True, db_index=False)
    tags = models.ManyToManyField(Tag, blank=True, related_name="messages")
    meta = models.JSONField(default=dict, blank=True)
    use_case = models.CharField(max_length=30, blank=True)
    short_links = models.JSONField(null=True, blank=True)
    enable_link_tracking = models.BooleanField(default=False)
    cap_frequency = models.BooleanField(default=False)
    ignore_quiet_hours = models.BooleanField(default=False)
    ignore_global_holdout = models.BooleanField(default=False)
    scheduled_for = models.DateTimeField(null=True, blank=True)
    validity = models.PositiveIntegerField(default=DEFAULT_VALIDITY_SECONDS)
    expires_at = models.DateTimeField(null=True, blank=True)
    priority = models.PositiveSmallIntegerField(default=2)
    notify_url = models.URLField(max_length=2000, blank=True)
    callback_data = models.TextField(blank=True)
    service = models.ForeignKey(
        Service, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages", db_index=False
    )
    transid = models.CharField(max_length=64, blank=True)
    correlationid = models.CharField(max_length=50, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACCEPTED)
    reason = models.CharField(max_length=500, blank=True)
    read = models.BooleanField(default=False)
    locked = models.BooleanField(default=False)
    deleted = models.BooleanField(default=False)
    conversation = models.ForeignKey(
        Conversation, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages", db_index=False
    )
    reply_to = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replies", db_index=False
    )
    external_id = models.CharField(max_length=200, blank=True, help_text="Id given by a device or app")
    # An app user's inbox copy (seed 003): the message it was copied from — the sender's
    # outgoing row of a user-to-user message, or an app-channel message (seed 002
    # appmessaging). The app's delivery/read reports on the copy move the origin.
    origin = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="inbox_copies", db_index=False
    )
    # dispatch bookkeeping (messaging.services.dispatch)
    due_at = models.DateTimeField(null=True, blank=True, help_text="When the dispatcher may pick it up")
    attempts = models.PositiveSmallIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=100, blank=True)
    endpoint = models.ForeignKey(
        MessagingEndpoint, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    last_status_at = models.DateTimeField(default=dj_tz.now)
    created_at = models.DateTimeField(default=dj_tz.now)
    updated_at = models.DateTimeField(default=dj_tz.now)

    class Meta:
        indexes = [
            models.Index(fields=["workspace", "-created_at", "-id"], name="message_ws_page"),
            models.Index(fields=["channel", "-created_at", "-id"], name="message_channel_page"),
            models.Index(fields=["workspace", "reference"], name="message_ws_reference"),
            models.Index(fields=["status", "priority", "due_at"], name="message_dispatch"),
            # The dispatcher's claim: waiting messages only, in claim order, so a claim reads
            # its batch off the front of a small index whatever the table's size and the
            # planner's statistics (without it PostgreSQL, on young statistics, scanned a
            # channel's whole history per claim: 4-7 ms at 9,000 messages).
            models.Index(
                fields=["priority", "created_at", "id"],
                name="message_waiting",
                condition=Q(status__in=["accepted", "scheduled"]),
            ),
            models.Index(fields=["status", "claimed_at"], name="message_claims"),
            models.Index(fields=["workspace", "transid"], name="message_transid"),
            # Dashboard counters: per-status counts of one workspace, recent ones by time.
            models.Index(fields=["workspace", "status", "last_status_at"], name="message_ws_status_time"),
            # App-user sync (seed 003): a conversation's messages changed since a time.
            models.Index(fields=["conversation", "updated_at"], name="message_conv_updated"),
            # All messages (seed 004): a user's conversations' messages after a time, oldest first.
            models.Index(fields=["conversation", "created_at", "id"], name="message_conv_created"),
            # Mostly NULL: only the rows that have one are indexed (lookups by value, and
            # the ON DELETE SET NULL of the referenced row, still use them).
            models.Index(fields=["template"], name="message_template_set", condition=Q(template__isnull=False)),
            models.Index(fields=["service"], name="message_service_set", condition=Q(service__isnull=False)),
            models.Index(fields=["reply_to"], name="message_reply_to_set", condition=Q(reply_to__isnull=False)),
            models.Index(fields=["origin"], name="message_origin_set", condition=Q(origin__isnull=False)),
            models.Index(fields=["endpoint"], name="message_endpoint_set", condition=Q(endpoint__isnull=False)),
        ]
        constraints = [
            # A device or webhook that reports the same incoming message twice stores it once
            # (messaging.services.receive). Outgoing rows are left alone: their external ids
            # come from connectors and are not ours to police.
            models.UniqueConstraint(
                fields=["channel", "external_id"],
                condition=Q(direction="incoming") & ~Q(external_id=""),
                name="message_incoming_external_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.direction} {self.id} [{self.status}]"

    @property
    def text(self) -> str:
        """The plain text of the body, whatever its type."""
        body = self.body or {}
        kind = body.get("type")
        block = body.get(kind) or {}
        return block.get("text") or ""


class MessageEvent(models.Model):
    """Append-only history of a message's status."""

    # No index of its own: event_message_time leads with it (one index fewer to write for
    # each of a message's events).
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="events", db_index=False)
    status = models.CharField(max_length=20, choices=Status.choices)
    reason = models.CharField(max_length=500, blank=True)
    actor = models.CharField(max_length=100, blank=True)
    at = models.DateTimeField(default=dj_tz.now)

    class Meta:
        indexes = [models.Index(fields=["message", "at"], name="event_message_time")]


# --- webhooks, media ----------------------------------------------------------------------


class WebhookSubscription(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="webhook_subscriptions")
    url = models.URLField(max_length=2000)
    events = models.JSONField(default=list)
    active = models.BooleanField(default=True)
    signing_salt = models.CharField(max_length=32, default=sec.new_salt, editable=False)
    disabled_reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=dj_tz.now)

    class Meta:
        indexes = [models.Index(fields=["workspace", "created_at", "id"], name="webhooksub_ws_page")]

    def __str__(self) -> str:
        return self.url

    @property
    def signing_key(self) -> str:
        return sec.derive_whsec("webhook-subscription", self.id, self.signing_salt)


class WebhookAttempt(models.Model):
    """One try to deliver one event to one URL (webhook subscriptions, 002 notify URLs)."""

    subscription = models.ForeignKey(
        WebhookSubscription, null=True, blank=True, on_delete=models.CASCADE, related_name="attempts"
    )
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    url = models.URLField(max_length=2000)
    event_type = models.CharField(max_length=100)
    webhook_id = models.CharField(max_length=100)
    payload = models.JSONField(default=dict)
    attempt = models.PositiveSmallIntegerField(default=1)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    response_excerpt = models.CharField(max_length=500, blank=True)
    error = models.CharField(max_length=500, blank=True)
    succeeded = models.BooleanField(default=False)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    at = models.DateTimeField(default=dj_tz.now)

    class Meta:
        indexes = [
            models.Index(fields=["subscription", "-at"], name="attempt_sub_recent"),
            # The retry sweep (messaging.services.webhooks.retry_due) reads only pending retries.
            models.Index(
                fields=["next_attempt_at"], name="attempt_retry_due", condition=Q(next_attempt_at__isnull=False)
            ),
        ]


class Media(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="media")
    channel = models.ForeignKey(Channel, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    content_type = models.CharField(max_length=100)
    file = models.FileField(upload_to="uploads/%Y/%m/", blank=True)
    size = models.PositiveBigIntegerField(null=True, blank=True)
    expires_at = models.DateTimeField()
    uploaded_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=dj_tz.now)


class ProcessedWebhook(models.Model):
    """`webhook-id`s already handled by the inbound hook, so a retry is stored once."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="+")
    webhook_id = models.CharField(max_length=200)
    response = models.JSONField(default=dict, blank=True, help_text="The answer given, repeated for a duplicate")
    at = models.DateTimeField(default=dj_tz.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["channel", "webhook_id"], name="processed_webhook_unique")]


# --- smart-link short codes and their click log --------------------------------------------


class ShortLink(models.Model):
    """One `/l/<code>` made when a message uses a smart link; it keeps its own target and
    expiry so editing or deleting the smart link later does not break links already sent."""

    code = models.CharField(max_length=32, unique=True)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="short_links")
    smartlink = models.ForeignKey(
        SmartLink, null=True, blank=True, on_delete=models.SET_NULL, related_name="short_links"
    )
    message = models.ForeignKey(Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="short_link_set")
    contact = models.ForeignKey(Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    url = models.URLField(max_length=2000)
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(default=dj_tz.now)

    def __str__(self) -> str:
        return f"/l/{self.code} → {self.url}"


class LinkClick(models.Model):
    short_link = models.ForeignKey(ShortLink, on_delete=models.CASCADE, related_name="clicks")
    at = models.DateTimeField(default=dj_tz.now)
    user_agent = models.CharField(max_length=500, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["short_link", "-at"], name="linkclick_recent")]


# --- chat-ops bot ---------------------------------------------------------------------------


class BotCommandAudit(models.Model):
    """One operator command the bot ran (messaging.bot.commands): who, what, and the answer."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="bot_audits")
    channel = models.ForeignKey(Channel, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", help_text="The incoming command"
    )
    operator = models.CharField(max_length=320, help_text="Identifier the command came from")
    command = models.TextField()
    result = models.TextField(blank=True)
    ok = models.BooleanField(default=True)
    at = models.DateTimeField(default=dj_tz.now)

    class Meta:
        indexes = [models.Index(fields=["workspace", "-at"], name="botaudit_ws_recent")]

    def __str__(self) -> str:
        return f"{self.operator}: {self.command}"


# --- engine device protocol (seed 000) ---------------------------------------------------------


class AppFrame(models.Model):
    """/ws/app/ frames for one app user, for web processes other than the writer's.

    Written only with the in-memory channel layer (no REDIS_URL), which reaches the sockets
    of the writing process alone: the writer delivers to its own sockets directly, and each
    other web process holding one of the user's sockets reads the rows it has not seen
    (messaging/connectors/app/relay.py). The sweeper deletes rows after a few minutes.
    """

    id = models.BigAutoField(primary_key=True)
    app_user = models.ForeignKey(AppUser, on_delete=models.CASCADE, related_name="+")
    frames = models.JSONField(help_text="The frames, each one JSON text as sent on the socket")
    origin = models.CharField(max_length=80, help_text="The process that wrote the row (it delivered them itself)")
    created_at = models.DateTimeField(default=dj_tz.now, db_index=True)


class EngineRequest(models.Model):
    """One request the server sent to a device, correlated with its reply by `token`.

    Stored in the database (not in a web process's memory) so whichever process holds the
    device's socket can accept the reply, and so unanswered sends can be timed out.
    """

    token = models.CharField(max_length=64, unique=True)
    endpoint = models.ForeignKey(MessagingEndpoint, on_delete=models.CASCADE, related_name="requests")
    action = models.CharField(max_length=40)
    message = models.ForeignKey(Message, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(Conversation, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    detail = models.JSONField(default=dict, blank=True, help_text="e.g. the device message ids marked read")
    created_at = models.DateTimeField(default=dj_tz.now)
    sent_at = models.DateTimeField(null=True, blank=True, help_text="When the frame was handed to the device")
    expires_at = models.DateTimeField()
    answered_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=300, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["endpoint", "action", "created_at"], name="enginereq_endpoint_recent"),
            models.Index(fields=["action", "answered_at", "expires_at"], name="enginereq_open"),
            models.Index(fields=["message", "created_at"], name="enginereq_message"),
            # The pump's outbox query (messaging.engine.pump): unsent requests per device.
            models.Index(fields=["endpoint", "id"], name="enginereq_unsent", condition=Q(sent_at=None)),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.token} → {self.outcome or 'open'}"


# --- delivery engine bookkeeping (messaging.services.dispatch) -------------------------------


class DispatchSignal(models.Model):
    """Coalescing flags of the dispatcher, shared by every process through the database.

    `dispatch`: `pending_until` is set while a dispatch task is queued, so a burst of accepts
    queues one task, not one per message. `timer`: `armed_for` is when the next scheduled
    message falls due, so one sleeping task (not a Schedule row per message) releases it.
    """

    name = models.CharField(max_length=20, unique=True)
    pending_until = models.DateTimeField(null=True, blank=True)
    armed_for = models.DateTimeField(null=True, blank=True)
    armed_at = models.DateTimeField(null=True, blank=True)


class SandboxSend(models.Model):
    """One message the sandbox connector "sent", per attempt (tests count duplicates here)."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="+")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="+")
    attempt = models.PositiveSmallIntegerField()
    at = models.DateTimeField(default=dj_tz.now)


# --- rate limits (seed 003) -------------------------------------------------------------------


class RateCounter(models.Model):
    """A fixed-window request counter shared by every web process (messaging.dialects.
    user_messages.throttle): one row per key, reset when a new window starts."""

    key = models.CharField(max_length=200, unique=True)
    window_start = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)
