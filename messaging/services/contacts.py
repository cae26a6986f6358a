"""Contacts and their identifiers."""

from django.db import IntegrityError, connection, transaction

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


def contact_id_for(workspace: Workspace, key: str, normalized: str):
    """The id of the contact owning an already normalised identifier, created on first use.

    Every send resolves its receiver here, so the common case — the contact exists — is
    one indexed SELECT of one column, written out (the ORM spent more time building that
    query than the database took to answer it). Creating goes the careful way above."""
    owner = _identifier_owner(workspace.id, key, normalized)
    if owner is not None:
        return owner
    if not connection.in_atomic_block:  # the careful way needs no transaction of the caller's
        contact, _ = get_or_create_by_identifier(workspace, key, normalized)
        return contact.id
    contact = Contact(workspace_id=workspace.id)
    db.insert_instances([contact])
    row = [(workspace.id, contact.id, key, normalized)]
    if db.writes_are_serialized():
        # SQLite IMMEDIATE: nobody can have inserted this identifier since the lookup.
        db.insert_rows(ContactIdentifier, ["workspace", "contact", "key", "value"], row)
        return contact.id
    # Another transaction may be creating the same identifier right now: the unique
    # constraint decides (INSERT ... ON CONFLICT DO NOTHING waits for it, then yields), the
    # winner's contact is read back and ours, unused, goes.
    db.insert_rows(ContactIdentifier, ["workspace", "contact", "key", "value"], row, ignore_conflicts=True)
    owner = _identifier_owner(workspace.id, key, normalized)
    if owner != contact.id:
        Contact.objects.filter(pk=contact.id).delete()
    return owner


def _identifier_owner(workspace_id, key: str, value: str):
    q = connection.ops.quote_name
    meta = ContactIdentifier._meta
    columns = {name: meta.get_field(name).column for name in ("workspace", "contact", "key", "value")}
    sql = (
        f"SELECT {q(columns['contact'])} FROM {q(meta.db_table)}"
        f" WHERE {q(columns['workspace'])} = %s AND {q(columns['key'])} = %s AND {q(columns['value'])} = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [Workspace._meta.pk.get_db_prep_value(workspace_id, connection), key, value])
        row = cursor.fetchone()
    return Contact._meta.pk.to_python(row[0]) if row else None


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
