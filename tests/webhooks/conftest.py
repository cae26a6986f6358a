import pytest

from tests.webhooks.receiver import Receiver


@pytest.fixture
def receiver():
    """A real local HTTP receiver; stopped after the test."""
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
