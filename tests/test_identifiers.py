import pytest

from messaging.errors import ValidationFailed
from messaging.services.identifiers import normalize


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("+15551234567", "US", "+15551234567"),  # the SPEC's own example number
        ("(415) 555-2671", "US", "+14155552671"),
        ("020 7946 0018", "GB", "+442079460018"),
        ("0612345678", "NL", "+31612345678"),
    ],
)
def test_phone_numbers_become_e164(raw, region, expected):
    assert normalize("phonenumber", raw, region) == expected


@pytest.mark.parametrize("raw", ["12", "+1 555", "not a number", "+1555123456789012"])
def test_impossible_phone_numbers_name_the_field(raw):
    with pytest.raises(ValidationFailed) as info:
        normalize("phonenumber", raw, "US", field="receiver.contacts[0].identifierValue")
    assert "receiver.contacts[0].identifierValue" in info.value.details


def test_emails_are_normalised():
    assert normalize("emailaddress", "  Ann@Example.COM ", "US") == "ann@example.com"
