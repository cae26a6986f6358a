"""The portal's own login page (/login/): every active user, staff or not, logs in here."""

import pytest
from django.test import Client

from tests import factories

pytestmark = pytest.mark.django_db

PASSWORD = "pw-123456789"  # tests.factories.create_user's password


def log_in(client: Client, username: str, password: str = PASSWORD, next_url: str = ""):
    """Log in the way a browser does: load the form (CSRF cookie), then post it."""
    assert client.get("/login/").status_code == 200
    data = {
        "username": username,
        "password": password,
        "csrfmiddlewaretoken": client.cookies["csrftoken"].value,
    }
    if next_url:
        data["next"] = next_url
    return client.post("/login/", data)


@pytest.fixture
def browser():
    return Client(enforce_csrf_checks=True)


def test_the_dashboard_sends_anonymous_visitors_to_the_portal_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/"


def test_a_member_who_is_not_staff_logs_in_and_sees_the_dashboard(browser, workspace):
    factories.create_user("ann", workspace=workspace, role="viewer")  # is_staff=False
    response = log_in(browser, "ann", next_url="/")
    assert response.status_code == 302 and response["Location"] == "/"
    page = browser.get("/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "<h1>Acme</h1>" in html and "Your role here: <strong>viewer</strong>" in html
    assert 'href="/admin/"' not in html  # no admin link for non-staff


def test_without_next_the_login_lands_on_the_dashboard(browser, workspace):
    factories.create_user("ann", workspace=workspace, role="admin")
    response = log_in(browser, "ann")
    assert response["Location"] == "/"


def test_a_user_without_a_workspace_is_told_so_not_an_error(browser):
    factories.create_user("nobody")
    assert log_in(browser, "nobody")["Location"] == "/"
    page = browser.get("/")
    assert page.status_code == 200
    assert "not a member of any workspace" in page.content.decode()
    assert browser.get("/portal/data/", HTTP_ACCEPT="application/json").status_code == 404


def test_a_wrong_password_shows_an_error_and_logs_nobody_in(browser, workspace):
    factories.create_user("ann", workspace=workspace)
    response = log_in(browser, "ann", password="wrong-password")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'role="alert"' in html and "Please enter a correct username and password" in html
    assert browser.get("/")["Location"] == "/login/?next=/"


def test_a_missing_password_is_named_at_the_field(browser, workspace):
    factories.create_user("ann", workspace=workspace)
    html = log_in(browser, "ann", password="").content.decode()
    assert 'aria-invalid="true" aria-describedby="id_password_error"' in html
    assert '<p class="field-error" id="id_password_error">This field is required.</p>' in html


def test_an_inactive_user_cannot_log_in(browser, workspace):
    factories.create_user("gone", workspace=workspace, is_active=False)
    assert log_in(browser, "gone").status_code == 200
    assert browser.get("/").status_code == 302


def test_an_offsite_next_is_ignored(browser, workspace):
    factories.create_user("ann", workspace=workspace)
    assert log_in(browser, "ann", next_url="https://evil.example/")["Location"] == "/"


def test_the_login_page_is_accessible_and_self_contained(client):
    html = client.get("/login/").content.decode()
    assert "<h1" in html and '<main id="main"' in html and 'name="viewport"' in html
    assert '<label for="id_username">Username</label>' in html
    assert '<label for="id_password">Password</label>' in html
    assert 'autocomplete="username"' in html and 'autocomplete="current-password"' in html
    assert '<button type="submit">Log in</button>' in html
    assert "http://" not in html and "https://" not in html  # no CDN, no third-party assets


def test_a_logged_in_user_is_sent_on_from_the_login_page(client, workspace):
    client.force_login(factories.create_user("ann", workspace=workspace))
    assert client.get("/login/")["Location"] == "/"


def test_logging_out_is_a_post_and_returns_to_the_login_page(browser, workspace):
    factories.create_user("ann", workspace=workspace)
    log_in(browser, "ann")
    page = browser.get("/").content.decode()
    assert 'action="/logout/"' in page  # the header's log-out button
    assert browser.get("/logout/").status_code == 405  # a link or an <img> cannot log you out
    assert browser.post("/logout/").status_code == 403  # nor can another site's form (CSRF)
    response = browser.post("/logout/", {"csrfmiddlewaretoken": browser.cookies["csrftoken"].value})
    assert response.status_code == 302 and response["Location"] == "/login/"
    assert browser.get("/")["Location"] == "/login/?next=/"
