import pytest
from django.core.management.base import CommandError

from messaging.models import Service
from tests import factories
from tests.commands import run, run_json


@pytest.mark.django_db
class TestCreateService:
    def test_it_maps_each_platform_to_its_only_active_channel(self, workspace, sms_channel, email_channel):
        factories.create_channel(workspace, "sms", "engine", status="inactive")
        payload = run_json("createservice", "--workspace", str(workspace.id), "--name", "Shop")
        assert set(payload) == {"id", "key"}
        service = Service.objects.get(pk=payload["id"])
        assert service.active and service.name == "Shop"
        assert service.channel_map == {"sms": str(sms_channel.id), "email": str(email_channel.id)}
        assert Service.find_by_token(payload["key"]) == service
        assert payload["key"] not in (service.token_prefix, service.token_hash)

    def test_an_explicit_channel_wins_and_ambiguous_platforms_are_left_out(self, workspace, sms_channel, settings):
        settings.ALLOW_PRIVATE_URLS = True
        second = factories.create_channel(workspace, "sms", "engine")
        payload = run_json(
            "createservice", "--workspace", str(workspace.id), "--name", "Shop", "--inactive",
            "--notify-url", "http://127.0.0.1:8080/reports",
        )  # fmt: skip
        service = Service.objects.get(pk=payload["id"])
        assert service.channel_map == {} and not service.active
        assert service.notify_url == "http://127.0.0.1:8080/reports"
        payload = run_json(
            "createservice", "--workspace", str(workspace.id), "--name", "Shop 2", "--channel", f"sms={second.id}"
        )
        assert Service.objects.get(pk=payload["id"]).channel_map == {"sms": str(second.id)}

    def test_it_rejects_a_channel_of_another_platform_or_workspace(self, workspace, other_workspace, sms_channel):
        foreign = factories.create_channel(other_workspace, "email", "smtp")
        with pytest.raises(CommandError, match="^--channel: channel .* is a sms channel, not email"):
            run("createservice", "--workspace", str(workspace.id), "--name", "S", "--channel", f"email={sms_channel.id}")
        with pytest.raises(CommandError, match="^--channel: no channel with id .* in workspace 'Acme'"):
            run("createservice", "--workspace", str(workspace.id), "--name", "S", "--channel", f"email={foreign.id}")
        with pytest.raises(CommandError, match="^--channel: 'fax' is not one of"):
            run("createservice", "--workspace", str(workspace.id), "--name", "S", "--channel", f"fax={sms_channel.id}")
        assert not Service.objects.exists()

    def test_it_rejects_a_bad_notify_url(self, workspace):
        with pytest.raises(CommandError, match="^--notify-url: 'ftp://x' is not an http or https URL"):
            run("createservice", "--workspace", str(workspace.id), "--name", "S", "--notify-url", "ftp://x")
        with pytest.raises(CommandError, match="^--notify-url: .*link-local"):
            run("createservice", "--workspace", str(workspace.id), "--name", "S", "--notify-url", "http://169.254.1.1/")
