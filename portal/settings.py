"""Switchboard settings. Everything that varies between installs comes from the
environment through the helpers in portal.env; see the README's Configuration table."""

import os
from pathlib import Path
from urllib.parse import unquote, urlparse

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from portal.env import envbool, envint, envlist, envstr, envurl, web_processes
from portal.layers import memory_layer, redis_layer

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(envstr("SWITCHBOARD_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = envbool("DEBUG", False)
SECRET_KEY = envstr("SECRET_KEY")
if not SECRET_KEY:
    # A stable per-checkout key so `make run` works out of the box; production sets SECRET_KEY.
    _key_file = VAR_DIR / "secret_key"
    if _key_file.exists():
        SECRET_KEY = _key_file.read_text().strip()
    else:
        import secrets

        VAR_DIR.mkdir(parents=True, exist_ok=True)
        SECRET_KEY = secrets.token_urlsafe(50)
        _key_file.write_text(SECRET_KEY)
        _key_file.chmod(0o600)

ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", [])
PUBLIC_BASE_URL = envurl("PUBLIC_BASE_URL", "http://127.0.0.1:8000")
ALLOW_PRIVATE_URLS = envbool("ALLOW_PRIVATE_URLS", False)
REDIS_URL = envurl("REDIS_URL", "", schemes=("redis", "rediss", "unix"))

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "django_q",
    "messaging",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Innermost on purpose: it is synchronous only, so Django runs the whole chain above it
    # in one synchronous pass per request. Placed higher, every middleware below it ran in
    # async mode, paying a thread hop per process_request/process_response. Nothing above
    # reads the body of the paths it guards (their views are csrf-exempt API endpoints).
    "messaging.middleware.BodySizeLimitMiddleware",
]

ROOT_URLCONF = "portal.urls"
ASGI_APPLICATION = "portal.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

# --- Database -------------------------------------------------------------------------
# SQLite by default: WAL lets readers run beside the one writer, IMMEDIATE transactions
# take the write lock up front (so two writers queue instead of failing half-way with
# "database is locked"), and the busy timeout makes the waiting writer wait, not fail.
DATABASE_URL = envstr("DATABASE_URL")
DB_CONN_MAX_AGE = envint("DB_CONN_MAX_AGE", 600, minimum=0)
if DATABASE_URL:
    # Persistent connections (DB_CONN_MAX_AGE seconds, health-checked before reuse). Stock
    # Django under ASGI runs each request in a thread of its own, where a persistent
    # connection is never reused, only left open (bench/send.py once saw 90+ idle ones);
    # portal/handler.py runs requests on a fixed pool of WEB_THREADS threads instead, so
    # a web process holds at most that many (plus one for websockets), reused across
    # requests. 0 closes the connection after every request.
    try:
        DATABASES = {
            "default": dj_database_url.parse(
                DATABASE_URL, conn_max_age=DB_CONN_MAX_AGE, conn_health_checks=DB_CONN_MAX_AGE > 0
            )
        }
    except Exception as exc:  # dj-database-url raises several types for a bad URL
        raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from None
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and envbool("DB_SERVER_SIDE_BINDING", True):
        # Parameters travel apart from the statement text (psycopg's default) instead of
        # being merged into it in Python, value by value: that merge cost ~1 ms of CPU per
        # send (a message row has ~45 columns).
        DATABASES["default"].setdefault("OPTIONS", {})["server_side_binding"] = True
        # And a statement a connection runs DB_PREPARE_THRESHOLD times is prepared: the
        # server keeps its parse and plan instead of redoing them on every run. Django
        # turns this off (prepare_threshold None) for the sake of connection poolers;
        # without it the server parsed and planned every statement of every send again,
        # ~2 ms of PostgreSQL's CPU per send (bench/send.py, PGOPTIONS statement log).
        # 0 turns it off (a PgBouncer in transaction mode older than 1.21).
        prepare_threshold = envint("DB_PREPARE_THRESHOLD", 5, minimum=0)
        DATABASES["default"]["OPTIONS"]["prepare_threshold"] = prepare_threshold or None
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and envbool("DB_POOL", False):
        # Opt-in, for web (daphne) processes only: a process-wide psycopg pool, so request
        # threads borrow and return connections instead of opening one each. Never for
        # `qcluster`: django-q2 forks its workers, and a pool does not survive a fork (its
        # threads stay in the parent, so a worker's first query waits forever).
        DATABASES["default"]["CONN_MAX_AGE"] = 0
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": envint("DB_POOL_MIN_SIZE", 1, minimum=0),
            "max_size": envint("DB_POOL_MAX_SIZE", 10, minimum=1),
            "timeout": envint("DB_POOL_TIMEOUT", 30, minimum=1),
        }
else:
    # WAL checkpoints in a thread of each web process rather than inside the commit that
    # fills the WAL, which holds the write lock meanwhile (portal/sqlite/checkpoint.py).
    # `manage.py serve` turns it on for its children; the writers' own automatic
    # checkpoint then only steps in past ~40 MB, should that thread stall.
    SQLITE_BACKGROUND_CHECKPOINT = envbool("SQLITE_BACKGROUND_CHECKPOINT", False)
    SQLITE_CHECKPOINT_INTERVAL_MS = envint("SQLITE_CHECKPOINT_INTERVAL_MS", 200, minimum=5, maximum=10_000)
    from portal.sqlite.checkpoint import FALLBACK_PAGES as SQLITE_FALLBACK_CHECKPOINT_PAGES

    DATABASES = {
        "default": {
            # Django's sqlite3 backend plus a per-process writer queue (portal/sqlite/base.py).
            "ENGINE": "portal.sqlite",
            "NAME": envstr("SQLITE_PATH", str(VAR_DIR / "db.sqlite3")),
            # Kept open between requests (see DB_CONN_MAX_AGE above): a SQLite connection's
            # page cache is per connection, so a fresh one per request re-reads every page.
            "CONN_MAX_AGE": DB_CONN_MAX_AGE,
            "CONN_HEALTH_CHECKS": DB_CONN_MAX_AGE > 0,
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": envint("SQLITE_BUSY_TIMEOUT", 30, minimum=1),
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=30000;"
                + (f" PRAGMA wal_autocheckpoint={SQLITE_FALLBACK_CHECKPOINT_PAGES};" if SQLITE_BACKGROUND_CHECKPOINT else ""),
            },
            # A file (not :memory:) so tests can start daphne and worker processes on it;
            # one per test process so parallel runs never share one.
            "TEST": {"NAME": envstr("SQLITE_TEST_PATH", str(VAR_DIR / f"test-{os.getpid()}.sqlite3"))},
        }
    }
IS_POSTGRES = DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(envstr("STATIC_ROOT", str(VAR_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = Path(envstr("MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_MAX_UPLOAD_BYTES = envint("MEDIA_MAX_UPLOAD_BYTES", 10 * 1024 * 1024, minimum=1)
MEDIA_UPLOAD_EXPIRY_SECONDS = envint("MEDIA_UPLOAD_EXPIRY_SECONDS", 3600, minimum=60)
DATA_UPLOAD_MAX_MEMORY_SIZE = envint("DATA_UPLOAD_MAX_MEMORY_SIZE", 5 * 1024 * 1024, minimum=1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns about a missing root
WHITENOISE_USE_FINDERS = True  # serve static files under daphne without a collectstatic step

# Session storage keeps one-time secrets shown by the admin on the server, never in a cookie.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"

# --- Email ----------------------------------------------------------------------------
EMAIL_URL = envstr("EMAIL_URL")
if EMAIL_URL:
    _e = urlparse(EMAIL_URL)
    if _e.scheme not in ("smtp", "smtps", "submission") or not _e.hostname:
        raise ImproperlyConfigured(f"EMAIL_URL={EMAIL_URL!r} must look like smtp://user:pass@host:port")
    EMAIL_HOST = _e.hostname
    EMAIL_PORT = _e.port or (465 if _e.scheme == "smtps" else 587 if _e.scheme == "submission" else 25)
    EMAIL_HOST_USER = unquote(_e.username or "")
    EMAIL_HOST_PASSWORD = unquote(_e.password or "")
    EMAIL_USE_SSL = _e.scheme == "smtps"
    EMAIL_USE_TLS = _e.scheme == "submission"
else:
    EMAIL_HOST = envstr("EMAIL_HOST", "127.0.0.1")
    EMAIL_PORT = envint("EMAIL_PORT", 25, minimum=1, maximum=65535)
    EMAIL_HOST_USER = envstr("EMAIL_HOST_USER")
    EMAIL_HOST_PASSWORD = envstr("EMAIL_HOST_PASSWORD")
    EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", False)
    EMAIL_USE_SSL = envbool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = envint("EMAIL_TIMEOUT", 15, minimum=1)
DEFAULT_FROM_EMAIL = envstr("DEFAULT_FROM_EMAIL", "switchboard@localhost")

# --- REST framework -------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "messaging.auth.AccessKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["messaging.permissions.WorkspaceRolePermission"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    # DRF's JSONParser, but a too deeply nested document is a 400 too (not a RecursionError 500).
    "DEFAULT_PARSER_CLASSES": ["messaging.dialects.channels_api.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "messaging.dialects.channels_api.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Switchboard API",
    "DESCRIPTION": "Canonical messaging API (workspaces, channels, messages) of Switchboard.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "MessageStatusEnum": "messaging.models.Status.values",
        "ChannelStatusEnum": [("active", "active"), ("inactive", "inactive")],
        "PlatformEnum": "messaging.models.PLATFORMS",
    },
}
API_PAGE_LIMIT_DEFAULT = envint("API_PAGE_LIMIT_DEFAULT", 50, minimum=1)
API_PAGE_LIMIT_MAX = envint("API_PAGE_LIMIT_MAX", 200, minimum=1)

# --- Channels (websockets) ------------------------------------------------------------
# Sized for the live dashboard target: 50 sockets × 1,000 status events/s, nothing lost.
# messaging.live.events batches each commit's frames into one channel-layer message per
# workspace (≤ 500 frames), so a socket's channel receives at most one message per commit:
# ≤ 1,000 messages/s even when every event is its own commit, ~100/s when the dispatcher
# commits in batches of 10. `capacity` (messages queued per channel before the layer
# drops — channels_redis's group_send drops silently) of 5,000 is therefore ≥ 5 s of
# backlog in the worst case and ≥ 50 s typically; a socket that far behind is stuck, not
# slow. `expiry` (seconds a queued message waits) 30 s: a frame older than that is stale
# for a live view anyway. `group_expiry` 1 day: LiveConsumer re-joins its groups hourly, so
# a dashboard left open for days keeps receiving. CHANNEL_LAYER_PREFIX isolates installs
# (and test runs) that share one Redis database. Measured with bench/live.py (README).
CHANNEL_LAYER_CAPACITY = envint("CHANNEL_LAYER_CAPACITY", 5000, minimum=100)
CHANNEL_LAYER_EXPIRY = envint("CHANNEL_LAYER_EXPIRY", 30, minimum=5)
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": redis_layer(
            REDIS_URL, envstr("CHANNEL_LAYER_PREFIX", "asgi"), CHANNEL_LAYER_CAPACITY, CHANNEL_LAYER_EXPIRY
        )
    }
else:
    CHANNEL_LAYERS = {"default": memory_layer(CHANNEL_LAYER_CAPACITY, CHANNEL_LAYER_EXPIRY)}

# daphne processes `manage.py serve` starts on the one port (see its --web-processes; serve
# passes the number it uses on to its children). "auto" (the default): one per CPU core, at
# most 4. Without Redis, what one process publishes reaches the sockets of the others
# through the database (live relay, engine pump, app relay).
WEB_PROCESSES = web_processes(envstr("WEB_PROCESSES", "auto"))
# Threads per web process for the synchronous part of HTTP requests (portal/handler.py).
# On PostgreSQL, or with one web process, 2: one thread's query overlaps the other's
# Python, and a slow request does not hold up the process. On SQLite with several web
# processes, 1: writes are serialised anyway, and a second thread mostly makes the thread
# holding the write lock wait for the GIL while every writer waits for it (bench/send.py,
# 2 processes: 1 thread 384 sends/s, p99 127 ms; 2 threads 311/s, p99 155 ms; on
# PostgreSQL 1/2 threads gave 188/216 sends/s). More than two contend for the GIL.
WEB_THREADS = envint("WEB_THREADS", 1 if not DATABASE_URL and WEB_PROCESSES > 1 else 2, minimum=1, maximum=64)
# With Redis, how long a process gathers its commits' live events before one send per
# workspace (messaging/live/events.py): fewer, larger layer messages under load.
LIVE_PUBLISH_COALESCE_MS = envint("LIVE_PUBLISH_COALESCE_MS", 50, minimum=0, maximum=1000)
# Without Redis the in-memory layer reaches one process only, so status changes the worker
# commits would never reach daphne's live sockets. Each web process holding /ws/live/
# sockets then polls the MessageEvent table (one primary-key range query per tick) and
# publishes what it finds (messaging.live.relay); one holding /ws/app/ sockets polls the
# AppFrame table the same way (messaging.connectors.app.relay). This is their period: the
# added latency in the default set-up. Unused with REDIS_URL.
LIVE_RELAY_INTERVAL_MS = envint("LIVE_RELAY_INTERVAL_MS", 50, minimum=10, maximum=10_000)
# An open /ws/live/ socket checks this often that its access key, user, session and
# memberships still hold, and closes (4401/4403) when they do not (messaging/live/consumer.py).
LIVE_RECHECK_SECONDS = envint("LIVE_RECHECK_SECONDS", 10, minimum=1, maximum=3600)

# --- django-q2 ------------------------------------------------------------------------
# At-least-once: a task whose worker dies is handed out again after `retry` seconds, so
# `retry` must exceed `timeout` (django-q2's docs), and our tasks are idempotent: they
# claim rows atomically in the database, so a re-run never sends a message twice.
Q_CLUSTER = {
    # The queue name: give each install sharing one Redis its own (Q_QUEUE_NAME).
    "name": envstr("Q_QUEUE_NAME", "switchboard"),
    "workers": envint("Q_WORKERS", 2, minimum=1),
    "recycle": 500,
    "timeout": envint("Q_TIMEOUT", 120, minimum=5),
    "retry": envint("Q_TIMEOUT", 120, minimum=5) + 60,
    "max_attempts": 3,
    "ack_failures": True,
    "save_limit": 250,
    "queue_limit": 100,
    "catch_up": False,
    "label": "Task queue",
    "poll": 0.2,
    "sync": envbool("Q_SYNC", False),
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# Dispatch tuning (see messaging/services/dispatch.py).
DISPATCH_BATCH_SIZE = envint("DISPATCH_BATCH_SIZE", 200, minimum=1)
# While messages keep arriving, a dispatcher waits this long between partial batches so
# the next claim takes more at once (0: claim again at once). See messaging/services/dispatch.py.
# 250 rather than 100: on SQLite every claim and every batch's results take the one write
# lock the web processes' sends queue on, and fewer, larger batches kept them waiting less
# (bench/send.py, stop 13: ratio 0.80/0.81 against 0.78/0.79 at 100 ms, alternating runs).
DISPATCH_LINGER_MS = envint("DISPATCH_LINGER_MS", 250, minimum=0, maximum=1000)
# After seeing the dispatch flag set, a process does not read it again on its next commits
# for this long (less 200 ms); a dispatcher that runs out of work keeps claiming this long
# after clearing the flag, so nothing those commits add is left waiting. Saves a read per
# send (messaging/services/dispatch.py request_dispatch). 0: read on every commit.
DISPATCH_FLAG_TRUST_MS = envint("DISPATCH_FLAG_TRUST_MS", 1000, minimum=0, maximum=10_000)
DISPATCH_CLAIM_TIMEOUT = envint("DISPATCH_CLAIM_TIMEOUT", 300, minimum=10)
DISPATCH_MAX_ATTEMPTS = envint("DISPATCH_MAX_ATTEMPTS", 3, minimum=1)
DISPATCH_SIGNAL_TTL = envint("DISPATCH_SIGNAL_TTL", 30, minimum=1)  # a lost queued task is replaced after this
DISPATCH_TIMER_HORIZON = envint("DISPATCH_TIMER_HORIZON", 90, minimum=1)  # scheduled sends closer than this get a timer
DISPATCH_RETRY_BASE_SECONDS = envint("DISPATCH_RETRY_BASE_SECONDS", 30, minimum=1)
DISPATCH_RETRY_MAX_SECONDS = envint("DISPATCH_RETRY_MAX_SECONDS", 3600, minimum=1)
DISPATCH_WAIT_SECONDS = envint("DISPATCH_WAIT_SECONDS", 30, minimum=1)  # re-check after "no device available"
OUTBOUND_HTTP_TIMEOUT = envint("OUTBOUND_HTTP_TIMEOUT", 10, minimum=1)

# User message API (seed 003, /rest/user/...): request limits "<n>/<sec|min|hour|day>" per
# app user and per API key (code 98 beyond them), auth-token lifetime, largest body.
USER_API_RATE = envstr("USER_API_RATE", "120/min")
USER_API_KEY_RATE = envstr("USER_API_KEY_RATE", "1200/min")
# Wrong passwords per app user (003 login, 004 polling) before the account refuses every
# password until the window ends (messaging/services/passwords.py).
APP_USER_PASSWORD_FAILURES = envstr("APP_USER_PASSWORD_FAILURES", "10/hour")
for _name in ("USER_API_RATE", "USER_API_KEY_RATE", "APP_USER_PASSWORD_FAILURES"):
    _count, _, _unit = globals()[_name].partition("/")
    if not _count.strip().isdigit() or int(_count) < 1 or _unit.strip() not in ("sec", "min", "hour", "day"):
        raise ImproperlyConfigured(f"{_name}={globals()[_name]!r} must look like 120/min (sec, min, hour or day)")
USER_API_TOKEN_TTL_SECONDS = envint("USER_API_TOKEN_TTL_SECONDS", 30 * 86400, minimum=60)
# At most this many changes per `message/sync` answer (`hasMore` says when more remain).
USER_API_SYNC_PAGE_SIZE = envint("USER_API_SYNC_PAGE_SIZE", 500, minimum=1, maximum=10_000)
USER_API_MAX_BODY_BYTES = envint("USER_API_MAX_BODY_BYTES", 256 * 1024, minimum=1024)

# All messages (seed 004): page size, and how long a brand-new message is held back so a
# poll never skips a message whose transaction commits after a later one in the same second.
ALL_MESSAGES_PAGE_SIZE = envint("ALL_MESSAGES_PAGE_SIZE", 100, minimum=1)
ALL_MESSAGES_SETTLE_SECONDS = envint("ALL_MESSAGES_SETTLE_SECONDS", 2, minimum=0)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": envstr("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}, "daphne": {"level": "WARNING"}},
}
