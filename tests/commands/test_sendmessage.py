import uuid

import pytest
from django.core.management.base import CommandError

from messaging.models import Contact, Message, MessageEvent
from tests.commands import run, run_json


@pytest.mark.django_db
class TestSendMessage:
    def test_it_sends_to_a_phone_number_and_prints_the_message(self, workspace, sms_channel):
        resource = run_json("sendmessage", "--channel", str(sms_channel.id), "--to", "(415) 555-2671", "--text", "Hi")
        message = Message.objects.get(pk=resource["id"])
        assert resource["channelId"] == str(sms_channel.id)
        assert resource["status"] == message.status == "accepted"
        assert resource["direction"] == "outgoing"
        assert resource["body"] == {"type": "text", "text": {"text": "Hi"}}
        assert resource["receiver"]["contacts"][0]["identifierValue"] == "+14155552671"
        assert MessageEvent.objects.filter(message=message, actor="cli").exists()
        contact = Contact.objects.get(workspace=workspace, identifiers__value="+14155552671")
        assert message.contact == contact

    def test_an_address_with_at_is_an_email(self, email_channel):
        resource = run_json(
            "sendmessage", "--channel", str(email_channel.id), "--to", "Ann@Example.com", "--text", "Hello"
        )
        contact = resource["receiver"]["contacts"][0]
        assert (contact["identifierKey"], contact["identifierValue"]) == ("emailaddress", "ann@example.com")

    def test_readable_output_names_the_message(self, sms_channel):
        out, _ = run("sendmessage", "--channel", str(sms_channel.id), "--to", "+14155552671", "--text", "Hi")
        message = Message.objects.get()
        assert out.strip() == f"Message {message.id} accepted on channel 'SMS' to +14155552671"

    def test_bad_input_names_the_flag(self, sms_channel):
        with pytest.raises(CommandError, match="^--to: .*not a valid phone number"):
            run("sendmessage", "--channel", str(sms_channel.id), "--to", "12", "--text", "Hi")
        with pytest.raises(CommandError, match="^--text: may not be blank"):
            run("sendmessage", "--channel", str(sms_channel.id), "--to", "+14155552671", "--text", " ")
        with pytest.raises(CommandError, match="^--channel: no channel with id"):
            run("sendmessage", "--channel", str(uuid.uuid4()), "--to", "+14155552671", "--text", "Hi")
        assert not Message.objects.exists()
