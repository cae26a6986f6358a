"""Contacts and their identifiers."""

from django.db import IntegrityError, transaction

from messaging.models import Contact, ContactIdentifier, Workspace
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
