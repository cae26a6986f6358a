import uuid

import pytest
from django.core.management.base import CommandError

from messaging.models import MessagingEndpoint
from tests import factories
from tests.commands import run, run_json


@pytest.mark.django_db
class TestCreateEndpoint:
    def test_it_adds_a_device_to_an_engine_channel(self, workspace):
        channel = factories.create_channel(workspace, "sms", "engine")
        payload = run_json("createendpoint", "--channel", str(channel.id), "--name", "Phone 2")
        assert set(payload) == {"id", "endpointToken"}
        endpoint = MessagingEndpoint.objects.get(pk=payload["id"])
        assert (endpoint.channel, endpoint.name) == (channel, "Phone 2")
        assert MessagingEndpoint.find_by_token(payload["endpointToken"]) == endpoint

    def test_it_refuses_a_channel_that_is_not_engine(self, sms_channel):
        with pytest.raises(CommandError, match="^--channel: .*uses the sandbox connector, not engine"):
            run("createendpoint", "--channel", str(sms_channel.id), "--name", "Phone 2")

    def test_it_refuses_a_duplicate_name_and_an_unknown_channel(self, workspace):
        channel = factories.create_channel(workspace, "sms", "engine")
        factories.create_endpoint(channel, "Phone 2")
        with pytest.raises(CommandError, match="^--name: the channel already has an endpoint named 'Phone 2'"):
            run("createendpoint", "--channel", str(channel.id), "--name", "Phone 2")
        with pytest.raises(CommandError, match="^--channel: no channel with id"):
            run("createendpoint", "--channel", str(uuid.uuid4()), "--name", "Phone 3")
