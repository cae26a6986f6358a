"""Normalising contact identifiers: phone numbers to E.164 (phonenumbers, with the
workspace's default region for national numbers), email addresses lower-cased domain and
validated, ids trimmed."""

import functools

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from messaging.errors import ValidationFailed
from messaging.models import IdentifierKey


def normalize_phone(value, region: str = "US") -> str:
    """E.164 for a possible number; ValueError otherwise."""
    return _e164(str(value), region or "")


@functools.lru_cache(maxsize=65536)
def _e164(value: str, region: str) -> str:
    # Cached: a sender's receivers come back again and again, and parsing is the costly
    # part of a send's checks. Errors are not cached (lru_cache never stores exceptions).
    try:
        number = phonenumbers.parse(value, region or None)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"'{value}' is not a phone number ({exc})") from None
    # "Possible" (right length for the country), not "valid" (a range allocated today):
    # test numbers such as +1 555 123 4567 and freshly allocated ranges must still work.
    if not phonenumbers.is_possible_number(number):
        raise ValueError(f"'{value}' is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(value: str) -> str:
    value = str(value).strip()
    try:
        validate_email(value)
    except ValidationError:
        raise ValueError(f"'{value}' is not an email address") from None
    local, _, domain = value.rpartition("@")
    # Domains are case-insensitive; most providers treat the local part so too, and
    # treating it so avoids two contacts for Ann@x.com and ann@x.com.
    return f"{local.lower()}@{domain.lower()}"


def normalize(key: str, value, region: str = "US", field: str = "identifierValue") -> str:
    """The canonical form of an identifier; ValidationFailed naming `field` otherwise."""
    if key not in IdentifierKey.values:
        raise ValidationFailed.field(
            field.rsplit(".", 1)[0] + ".identifierKey" if "." in field else "identifierKey",
            f"'{key}' is not one of {', '.join(IdentifierKey.values)}",
        )
    if value is None or str(value).strip() == "":
        raise ValidationFailed.field(field, "may not be blank")
    try:
        if key == IdentifierKey.PHONENUMBER:
            return normalize_phone(value, region)
        if key == IdentifierKey.EMAILADDRESS:
            return normalize_email(value)
    except ValueError as exc:
        raise ValidationFailed.field(field, str(exc)) from None
    value = str(value).strip()
    if len(value) > 320:
        raise ValidationFailed.field(field, "is longer than 320 characters")
    return value
