import pytest
from django.core.management.base import CommandError

from messaging.models import Channel, MessagingEndpoint
from tests.commands import run, run_json


@pytest.mark.django_db
class TestCreateChannel:
    def create(self, workspace, *args) -> dict:
        return run_json("createchannel", "--workspace", str(workspace.id), *args)

    def test_a_sandbox_channel_prints_its_inbound_secret(self, workspace):
        payload = self.create(
            workspace, "--platform", "sms", "--connector", "sandbox", "--name", "Test SMS",
            "--setting", "latency_ms=50", "--setting", "failure_rate=0.25",
        )  # fmt: skip
        assert set(payload) == {"id", "inboundSecret"}
        channel = Channel.objects.get(pk=payload["id"])
        assert (channel.name, channel.platform, channel.connector) == ("Test SMS", "sms", "sandbox")
        assert channel.settings == {"latency_ms": 50, "failure_rate": 0.25}
        assert payload["inboundSecret"] == channel.inbound_secret
        assert payload["inboundSecret"].startswith("whsec_")

    def test_an_engine_channel_gets_a_device_and_prints_its_token(self, workspace):
        payload = self.create(workspace, "--platform", "sms", "--connector", "engine", "--message-type", "2fa")
        assert set(payload) == {"id", "endpointToken"}
        channel = Channel.objects.get(pk=payload["id"])
        assert channel.message_type == "2fa" and channel.default_validity == 600
        endpoint = MessagingEndpoint.find_by_token(payload["endpointToken"])
        assert endpoint is not None and endpoint.channel == channel
        assert payload["endpointToken"] not in (endpoint.token_prefix, endpoint.token_hash)

    def test_an_smtp_channel_keeps_a_numeric_password_a_string(self, workspace):
        payload = self.create(
            workspace, "--platform", "email", "--connector", "smtp",
            "--setting", "host=127.0.0.1", "--setting", "port=2525", "--setting", "password=123456",
            "--setting", "from=shop@example.com",
        )  # fmt: skip
        assert list(payload) == ["id"]
        settings = Channel.objects.get(pk=payload["id"]).settings
        assert settings["port"] == 2525 and settings["password"] == "123456" and settings["host"] == "127.0.0.1"

    def test_a_webhook_channel_needs_a_safe_url(self, workspace, settings):
        with pytest.raises(CommandError, match="--setting url"):
            self.create(workspace, "--platform", "telegram", "--connector", "webhook")
        with pytest.raises(CommandError, match="--setting url: .*link-local"):
            self.create(
                workspace, "--platform", "telegram", "--connector", "webhook",
                "--setting", "url=http://169.254.169.254/latest",
            )  # fmt: skip
        settings.ALLOW_PRIVATE_URLS = True
        payload = self.create(
            workspace, "--platform", "telegram", "--connector", "webhook", "--setting", "url=http://127.0.0.1:9/hook"
        )
        assert set(payload) == {"id", "inboundSecret"}

    @pytest.mark.parametrize(
        "args, message",
        [
            (["--platform", "fax", "--connector", "sandbox"], "^--platform: 'fax' is not one of sms, email"),
            (["--platform", "sms", "--connector", "pigeon"], "^--connector: 'pigeon' is not one of sandbox"),
            (["--platform", "sms", "--connector", "sandbox", "--message-type", "spam"], "^--message-type: 'spam'"),
            (["--platform", "sms", "--connector", "sandbox", "--setting", "latency_ms"], "^--setting: 'latency_ms'"),
            (["--platform", "sms", "--connector", "sandbox", "--setting", "latency_ms=fast"], "^--setting latency_ms"),
            (["--platform", "sms", "--connector", "sandbox", "--setting", "failure_rate=2"], "^--setting failure_rate"),
            (["--platform", "email", "--connector", "smtp", "--setting", "port=0"], "^--setting port"),
        ],
    )
    def test_it_rejects_bad_values_naming_the_flag(self, workspace, args, message):
        with pytest.raises(CommandError, match=message):
            self.create(workspace, *args)
        assert not Channel.objects.exists()

    def test_it_rejects_a_duplicate_name(self, workspace, sms_channel):
        with pytest.raises(CommandError, match="^--name: .*already exists"):
            self.create(workspace, "--platform", "sms", "--connector", "sandbox", "--name", sms_channel.name)

    def test_it_prints_readable_lines_without_json(self, workspace):
        out, _ = run("createchannel", "--workspace", str(workspace.id), "--platform", "sms", "--connector", "engine")
        channel = Channel.objects.get()
        assert f"id: {channel.id}" in out and "endpointToken: sbd_" in out
