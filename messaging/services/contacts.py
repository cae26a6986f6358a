"""Contacts and their identifiers."""

from django.db import IntegrityError, transaction

from messaging import db
from messaging.errors import Conflict, ValidationFailed
from messaging.models import Contact, ContactIdentifier, IdentifierKey, Workspace
from messaging.services.identifiers import normalize


def get_or_create_by_identifier(
    workspace: Workspace, key: str, value, field: str = "identifierValue"
) -> tuple[Contact, bool]:
    """The contact that owns this identifier, created on first use (SPEC §2).

    Safe under concurrency: two requests racing to create the same identifier end with
    one contact (the loser of the unique constraint re-reads the winner's row).
    """
    normalized = normalize(key, value, workspace.default_region, field=field)
    existing = (
        ContactIdentifier.objects.filter(workspace=workspace, key=key, value=normalized).select_related("contact").first()
    )
    if existing:
        return existing.contact, False
    try:
        with transaction.atomic():
            contact = Contact.objects.create(workspace=workspace)
            ContactIdentifier.objects.create(workspace=workspace, contact=contact, key=key, value=normalized)
            return contact, True
    except IntegrityError:
        ident = ContactIdentifier.objects.select_related("contact").get(workspace=workspace, key=key, value=normalized)
        return ident.contact, False


def existing_contact_id(workspace: Workspace, key: str, normalized: str):
    """The id of the contact owning an already normalised identifier, or None: one indexed
    SELECT of one column through messaging.db (every send asks this)."""
    found = db.select_rows(ContactIdentifier, ["contact_id"], workspace_id=workspace.id, key=key, value=normalized)
    return found[0][0] if found else None


def contacts_for(workspace: Workspace, addresses: set[tuple[str, str]]) -> dict[tuple[str, str], object]:
    """Contact id per (identifier key, normalised value), creating the missing contacts in
    bulk (inside the caller's transaction)."""
    owners = _identifier_owners(workspace, addresses)
    missing = sorted(addresses - owners.keys())
    if missing:
        owners.update(_create_owners(workspace, missing))
    return owners


def _create_owners(workspace: Workspace, missing: list[tuple[str, str]]) -> dict[tuple[str, str], object]:
    """A new contact per address, with its identifier; the owners' ids per address.

    Safe under concurrency: where writes are not serialised (PostgreSQL) another
    transaction may be creating the same identifier right now, so identifiers are inserted
    ignoring conflicts (INSERT ... ON CONFLICT DO NOTHING waits for that transaction, then
    yields) and read back; a contact that lost such a race is removed unused."""
    new = {address: Contact(workspace_id=workspace.id) for address in missing}
    db.insert_instances(list(new.values()))
    rows = [(workspace.id, contact.id, key, value) for (key, value), contact in new.items()]
    columns = ["workspace", "contact", "key", "value"]
    if db.writes_are_serialized():
        # SQLite IMMEDIATE: nobody can have inserted these identifiers since the lookup.
        db.insert_rows(ContactIdentifier, columns, rows)
        return {address: contact.id for address, contact in new.items()}
    db.insert_rows(ContactIdentifier, columns, rows, ignore_conflicts=True)
    owners = _identifier_owners(workspace, set(missing))
    losers = [contact.id for address, contact in new.items() if owners.get(address) != contact.id]
    if losers:
        Contact.objects.filter(id__in=losers).delete()
    return owners


def _identifier_owners(workspace: Workspace, addresses: set[tuple[str, str]]) -> dict[tuple[str, str], object]:
    """Contact id per (key, value) of the addresses that have one: one written-out SELECT
    per identifier key (a send has one), as it runs inside the write transaction."""
    by_key: dict[str, list[str]] = {}
    for key, value in addresses:
        by_key.setdefault(key, []).append(value)
    owners = {}
    for key, values in by_key.items():
        rows = db.select_rows(
            ContactIdentifier, ["value", "contact"], workspace=workspace.id, key=key, value__in=sorted(values)
        )
        owners.update({(key, value): contact_id for value, contact_id in rows})
    return owners


# --- the canonical API's contact resource (SPEC §3.1) ---------------------------------------


def normalize_identifiers(workspace: Workspace, identifiers: list[dict]) -> list[tuple[str, str]]:
    """[(key, normalised value)]; the same identifier twice in one request is an error."""
    out: list[tuple[str, str]] = []
    for index, item in enumerate(identifiers):
        field = f"identifiers[{index}].value"
        key = item["key"]
        if key not in IdentifierKey.values:
            raise ValidationFailed.field(f"identifiers[{index}].key", f"'{key}' is not one of {', '.join(IdentifierKey.values)}")
        value = normalize(key, item["value"], workspace.default_region, field=field)
        if (key, value) in out:
            raise ValidationFailed.field(field, f"{value} is given twice")
        out.append((key, value))
    return out


def _check_identifiers_free(workspace: Workspace, pairs: list[tuple[str, str]], contact: Contact | None) -> None:
    for index, (key, value) in enumerate(pairs):
        qs = ContactIdentifier.objects.filter(workspace=workspace, key=key, value=value)
        if contact is not None:
            qs = qs.exclude(contact=contact)
        if qs.exists():
            field = f"identifiers[{index}].value"
            raise Conflict(f"{field}: another contact has {key} {value}", {field: [f"another contact has {key} {value}"]})


def _write_identifiers(contact: Contact, pairs: list[tuple[str, str]]) -> None:
    ContactIdentifier.objects.filter(contact=contact).delete()
    ContactIdentifier.objects.bulk_create(
        [ContactIdentifier(workspace_id=contact.workspace_id, contact=contact, key=k, value=v) for k, v in pairs]
    )


def _identifier_race() -> Conflict:
    problem = "another contact has one of these identifiers"
    return Conflict(f"identifiers: {problem}", {"identifiers": [problem]})


def create_contact(workspace: Workspace, identifiers: list[dict] | None = None, **fields) -> Contact:
    pairs = normalize_identifiers(workspace, identifiers or [])
    _check_identifiers_free(workspace, pairs, None)
    try:
        with transaction.atomic():
            contact = Contact.objects.create(workspace=workspace, **fields)
            _write_identifiers(contact, pairs)
    except IntegrityError:
        raise _identifier_race() from None
    return contact


def update_contact(contact: Contact, identifiers: list[dict] | None = None, **fields) -> Contact:
    """PATCH semantics: given fields replace the stored ones; `identifiers`, when given,
    replaces the whole list."""
    pairs = None
    if identifiers is not None:
        pairs = normalize_identifiers(contact.workspace, identifiers)
        _check_identifiers_free(contact.workspace, pairs, contact)
    for name, value in fields.items():
        setattr(contact, name, value)
    try:
        with transaction.atomic():
            contact.save()
            if pairs is not None:
                _write_identifiers(contact, pairs)
    except IntegrityError:
        raise _identifier_race() from None
    return contact


def delete_contact(contact: Contact) -> None:
    # Messages keep their receiver JSON; their contact links are cleared (SET_NULL / M2M).
    contact.delete()


def find_by_identifier_query(workspace: Workspace, raw: str) -> set[str]:
    """Values an `identifier=` filter should match: as given, and normalised as a phone
    number or email. A '+' sent unencoded in a query string arrives as a space; undo that."""
    raw = raw.strip() if not raw.startswith(" ") else "+" + raw.strip()
    values = {raw}
    for key in (IdentifierKey.PHONENUMBER, IdentifierKey.EMAILADDRESS):
        try:
            values.add(normalize(key, raw, workspace.default_region))
        except ValidationFailed:
            pass
    return values
