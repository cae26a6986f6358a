import pytest
from rest_framework.test import APIClient

from tests import factories


@pytest.fixture(autouse=True, scope="session")
def _close_connections_after_use():
    """Tests run consumers and sync_to_async code in threads that outlive a test; with the
    production default of persistent connections those threads would keep connections to
    the test database open (and PostgreSQL refuses to drop a database in use). Servers the
    tests start as processes keep the production default."""
    from django.db import connections

    for alias in connections:
        connections.settings[alias]["CONN_MAX_AGE"] = 0


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = [
        "tests.hashers.FastPBKDF2PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    ]


@pytest.fixture
def workspace(db):
    return factories.create_workspace("Acme")


@pytest.fixture
def other_workspace(db):
    return factories.create_workspace("Globex")


@pytest.fixture
def api():
    """An API client; `api.key(plaintext)` sets the AccessKey header."""
    client = APIClient()

    def key(plaintext: str | None):
        if plaintext is None:
            client.credentials()
        else:
            client.credentials(HTTP_AUTHORIZATION=f"AccessKey {plaintext}")
        return client

    client.key = key
    return client


@pytest.fixture
def admin_key(workspace):
    return factories.create_access_key(workspace, "admin")[1]


@pytest.fixture
def sender_key(workspace):
    return factories.create_access_key(workspace, "sender")[1]


@pytest.fixture
def viewer_key(workspace):
    return factories.create_access_key(workspace, "viewer")[1]


@pytest.fixture
def foreign_key(other_workspace):
    return factories.create_access_key(other_workspace, "admin")[1]


@pytest.fixture
def sms_channel(workspace):
    return factories.create_channel(workspace, "sms", "sandbox", name="SMS")


@pytest.fixture
def email_channel(workspace):
    return factories.create_channel(workspace, "email", "smtp", name="Email")


# --- outbound HTTP (webhooks, seed-002 notify URLs) -----------------------------------------------


@pytest.fixture
def receiver():
    """A real local HTTP receiver; stopped after the test."""
    from tests.webhooks.receiver import Receiver

    server = Receiver().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def allow_private(settings):
    """Tests only ever talk to 127.0.0.1, which the guard refuses unless allowed."""
    settings.ALLOW_PRIVATE_URLS = True
    return settings


@pytest.fixture
def sync_tasks(monkeypatch):
    """django-q2 async_task runs inline (its Conf is read once at import time)."""
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)


@pytest.fixture
def dispatches(monkeypatch):
    """Stubs dispatch.request_dispatch and counts its calls (one item per wake-up)."""
    from messaging.services import dispatch

    calls: list[int] = []
    monkeypatch.setattr(dispatch, "request_dispatch", lambda *a, **k: calls.append(1))
    return calls


@pytest.fixture(autouse=True)
def _fresh_dispatch_flag_trust():
    """Each test starts without this process having seen the dispatch flag set (what it
    saw is trusted for DISPATCH_FLAG_TRUST_MS, longer than some tests take)."""
    from messaging.services import dispatch

    dispatch._flag_seen_until = 0.0
    yield
    dispatch._flag_seen_until = 0.0
