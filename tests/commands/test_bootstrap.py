import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from messaging.models import AccessKey, AppUser, Channel, Membership, MessagingEndpoint, Service, Workspace
from tests.commands import run, run_json

MODELS = (Workspace, AccessKey, Channel, MessagingEndpoint, Service, AppUser, Membership, get_user_model())


def counts() -> dict:
    return {model.__name__: model.objects.count() for model in MODELS}


@pytest.fixture(autouse=True)
def _no_env_password(monkeypatch):
    monkeypatch.delenv("SWITCHBOARD_ADMIN_PASSWORD", raising=False)


@pytest.mark.django_db
class TestBootstrap:
    def test_the_first_run_creates_the_demo_and_prints_its_secrets(self):
        data = run_json("bootstrap")
        workspace = Workspace.objects.get(pk=data["workspace"]["id"])
        assert workspace.name == "Demo"
        for role in ("admin", "sender", "viewer"):
            key = AccessKey.find_by_token(data["accessKeys"][role]["key"])
            assert (str(key.id), key.role, key.workspace) == (data["accessKeys"][role]["id"], role, workspace)
        sms = Channel.objects.get(pk=data["channels"]["sms"]["id"])
        assert (sms.platform, sms.connector) == ("sms", "sandbox")
        assert data["channels"]["sms"]["inboundSecret"] == sms.inbound_secret
        email = Channel.objects.get(pk=data["channels"]["email"]["id"])
        assert (email.platform, email.connector, email.settings["port"]) == ("email", "smtp", 25)
        engine = Channel.objects.get(pk=data["channels"]["engine"]["id"])
        assert MessagingEndpoint.find_by_token(data["channels"]["engine"]["endpointToken"]).channel == engine
        service = Service.find_by_token(data["service"]["key"])
        assert service.channel_map == {"sms": str(sms.id), "email": str(email.id)}
        app_user = AppUser.objects.get(pk=data["appUser"]["id"])
        assert app_user.check_password(data["appUser"]["password"])
        assert Client().login(username="admin", password=data["adminUser"]["password"])
        admin = get_user_model().objects.get(username="admin")
        assert admin.is_superuser and Membership.objects.filter(user=admin, workspace=workspace, role="admin").exists()
        assert "workspace" in data["created"] and "service" in data["created"]

    def test_a_second_run_creates_nothing_and_prints_only_ids(self):
        first = run_json("bootstrap")
        before = counts()
        second = run_json("bootstrap")
        assert counts() == before
        assert second["created"] == []
        assert second["workspace"] == first["workspace"]
        assert second["accessKeys"] == {role: {"id": v["id"]} for role, v in first["accessKeys"].items()}
        assert second["channels"]["sms"] == {"id": first["channels"]["sms"]["id"]}
        assert second["channels"]["engine"] == {
            "id": first["channels"]["engine"]["id"],
            "endpointId": first["channels"]["engine"]["endpointId"],
        }
        assert second["service"] == {"id": first["service"]["id"]}
        assert "password" not in second["adminUser"] and "password" not in second["appUser"]
        # The old secrets still work: nothing was rotated.
        assert AccessKey.find_by_token(first["accessKeys"]["admin"]["key"]) is not None

    def test_rotate_issues_fresh_secrets_and_retires_the_old_ones(self):
        first = run_json("bootstrap")
        before = counts()
        rotated = run_json("bootstrap", "--rotate")
        assert counts() == before and rotated["created"] == []
        old_key, new_key = first["accessKeys"]["sender"]["key"], rotated["accessKeys"]["sender"]["key"]
        assert old_key != new_key
        assert AccessKey.find_by_token(old_key) is None
        assert str(AccessKey.find_by_token(new_key).id) == first["accessKeys"]["sender"]["id"]
        assert Service.find_by_token(first["service"]["key"]) is None
        assert Service.find_by_token(rotated["service"]["key"]) is not None
        assert MessagingEndpoint.find_by_token(rotated["channels"]["engine"]["endpointToken"]) is not None
        assert MessagingEndpoint.find_by_token(first["channels"]["engine"]["endpointToken"]) is None
        sms = Channel.objects.get(pk=first["channels"]["sms"]["id"])
        assert rotated["channels"]["sms"]["inboundSecret"] == sms.inbound_secret != first["channels"]["sms"]["inboundSecret"]
        client = Client()
        assert not client.login(username="admin", password=first["adminUser"]["password"])
        assert client.login(username="admin", password=rotated["adminUser"]["password"])
        assert AppUser.objects.get(username="demo").check_password(rotated["appUser"]["password"])

    def test_the_admin_password_comes_from_the_environment_and_is_not_printed(self, monkeypatch):
        monkeypatch.setenv("SWITCHBOARD_ADMIN_PASSWORD", "from-the-env-123")
        data = run_json("bootstrap")
        assert "password" not in data["adminUser"]
        assert Client().login(username="admin", password="from-the-env-123")

    def test_readable_output_shows_secrets_only_on_creation(self):
        out, _ = run("bootstrap")
        assert "key=sbk_" in out and "portal login: admin / " in out
        again, _ = run("bootstrap")
        assert "sbk_" not in again and "whsec_" not in again and "Nothing new created" in again
        assert str(Workspace.objects.get(name="Demo").id) in again
