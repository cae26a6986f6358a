"""`manage.py importcontacts --workspace ID FILE.csv`: bulk contact import.

The header row names the columns: displayName/name, phonenumber/phone, emailaddress/
email, customerid, userid (case, spaces, `_` and `-` ignored); every other column becomes
an attribute. Identifiers are normalised as everywhere else (E.164 phone numbers in the
workspace's region, lower-cased emails). A row whose identifier already belongs to a
contact updates that contact (display name, attributes merged, new identifiers added);
otherwise a contact is created. A bad row is reported with its line number and reason
on stderr and skipped; the good rows are still imported.

Fast by design: rows are handled in chunks, each chunk's existing identifiers are fetched
in one query per key, and contacts and identifiers are written with bulk_create /
bulk_update in one transaction per chunk.
"""

import csv
import sys
from dataclasses import dataclass, field

from django.core.management.base import CommandError
from django.db import IntegrityError, transaction
from django.utils import timezone
from tqdm import tqdm

from messaging.errors import ValidationFailed
from messaging.management.base import SwitchboardCommand, get_workspace
from messaging.models import Contact, ContactIdentifier, IdentifierKey, Workspace
from messaging.services.identifiers import normalize

CHUNK_SIZE = 1000
MAX_REPORTED_ERRORS = 100
CHUNK_RETRIES = 3

# Normalised header → what the column holds. Anything else is an attribute.
COLUMN_ALIASES = {
    "displayname": "display_name",
    "name": "display_name",
    "fullname": "display_name",
    "phonenumber": IdentifierKey.PHONENUMBER,
    "phone": IdentifierKey.PHONENUMBER,
    "msisdn": IdentifierKey.PHONENUMBER,
    "mobile": IdentifierKey.PHONENUMBER,
    "emailaddress": IdentifierKey.EMAILADDRESS,
    "email": IdentifierKey.EMAILADDRESS,
    "customerid": IdentifierKey.CUSTOMERID,
    "userid": IdentifierKey.USERID,
}
IDENTIFIER_KEYS = tuple(IdentifierKey.values)


def header_role(name: str) -> str | None:
    compact = "".join(ch for ch in name.lower() if ch not in " _-")
    return COLUMN_ALIASES.get(compact)


@dataclass
class Row:
    line: int
    display_name: str
    identifiers: dict[str, str]
    attributes: dict[str, str]


@dataclass
class Report:
    created: int = 0
    updated: int = 0
    rejected: int = 0
    errors: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "created": self.created,
            "updated": self.updated,
            "rejected": self.rejected,
            # Chunk-level rejections are found after later rows' parse errors: sort by line.
            "errors": sorted(self.errors, key=lambda e: e["line"])[:MAX_REPORTED_ERRORS],
        }


class RowError(Exception):
    pass


class Command(SwitchboardCommand):
    help = "Import contacts from a CSV file (header row required); reports created/updated/rejected."

    def add_arguments(self, parser):
        parser.add_argument("--workspace", required=True, help="Workspace id.")
        parser.add_argument("file", metavar="FILE.csv", help="CSV file with a header row.")

    def handle(self, *args, **options):
        workspace = get_workspace(options["workspace"])
        path = options["file"]
        self.report = Report()
        show_progress = sys.stderr.isatty()
        try:
            with open(path, newline="", encoding="utf-8-sig") as handle:
                total = sum(1 for _ in handle) - 1 if show_progress else None
                handle.seek(0)
                with tqdm(total=total, unit="rows", file=sys.stderr, disable=not show_progress) as bar:
                    self.progress = bar
                    self.import_file(workspace, handle)
        except FileNotFoundError:
            raise CommandError(f"FILE.csv: {path} does not exist") from None
        except IsADirectoryError:
            raise CommandError(f"FILE.csv: {path} is a directory") from None
        except UnicodeDecodeError as exc:
            raise CommandError(f"FILE.csv: {path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        except csv.Error as exc:
            raise CommandError(f"FILE.csv: {path} is not valid CSV ({exc})") from None
        report = self.report
        self.emit(
            options,
            report.as_dict(),
            [f"Imported {path}: {report.created} created, {report.updated} updated, {report.rejected} rejected"],
        )

    # --- reading ----------------------------------------------------------------------

    def import_file(self, workspace: Workspace, handle) -> None:
        reader = csv.reader(handle)
        header = next(reader, None)
        if not header:
            raise CommandError("FILE.csv: the file is empty (a header row is required)")
        roles = [header_role(name) for name in header]
        if not any(role in IDENTIFIER_KEYS for role in roles):
            raise CommandError(
                "FILE.csv: the header has no identifier column "
                "(phonenumber/phone, emailaddress/email, customerid or userid)"
            )
        chunk: list[Row] = []
        for values in reader:
            line = reader.line_num
            if not any(v.strip() for v in values):
                continue  # blank lines are not rows
            try:
                chunk.append(self.parse_row(workspace, line, header, roles, values))
            except RowError as exc:
                self.reject(line, str(exc))
            if len(chunk) >= CHUNK_SIZE:
                self.write_chunk(workspace, chunk)
                chunk = []
        if chunk:
            self.write_chunk(workspace, chunk)

    def parse_row(self, workspace: Workspace, line: int, header: list[str], roles: list, values: list[str]) -> Row:
        if len(values) != len(header):
            raise RowError(f"has {len(values)} fields, the header has {len(header)}")
        row = Row(line=line, display_name="", identifiers={}, attributes={})
        for name, role, raw in zip(header, roles, values, strict=True):
            value = raw.strip()
            if not value:
                continue
            if role == "display_name":
                row.display_name = value[:200]
            elif role in IDENTIFIER_KEYS:
                try:
                    row.identifiers[role] = normalize(role, value, workspace.default_region, field=name)
                except ValidationFailed as exc:
                    raise RowError(exc.message) from None
            else:
                row.attributes[name] = value
        if not row.identifiers:
            raise RowError("has no identifier (phonenumber, emailaddress, customerid or userid)")
        return row

    def reject(self, line: int, reason: str) -> None:
        self.report.rejected += 1
        self.report.errors.append({"line": line, "reason": reason})
        message = f"line {line}: {reason}"
        if self.progress.disable:
            self.stderr.write(message)
        else:
            self.progress.write(message, file=sys.stderr)
        self.progress.update(1)

    # --- writing ----------------------------------------------------------------------

    def write_chunk(self, workspace: Workspace, rows: list[Row]) -> None:
        # Another process may add one of these identifiers between our read and our
        # insert (PostgreSQL); the chunk then rolls back and is planned again against
        # fresh data, so no row is lost and no identifier is duplicated.
        for attempt in range(CHUNK_RETRIES):
            try:
                with transaction.atomic():
                    outcome = self.plan_and_write(workspace, rows)
                break
            except IntegrityError:
                if attempt == CHUNK_RETRIES - 1:
                    raise
        created, updated, rejected = outcome
        self.report.created += created
        self.report.updated += updated
        for line, reason in rejected:
            self.reject(line, reason)
        self.progress.update(created + updated)

    def plan_and_write(self, workspace: Workspace, rows: list[Row]) -> tuple[int, int, list[tuple[int, str]]]:
        owner = self.existing_owners(workspace, rows)  # (key, value) → contact id
        existing = Contact.objects.in_bulk({cid for cid in owner.values()})
        new_contacts: dict = {}  # id → Contact created in this chunk
        touched: dict = {}  # id → existing Contact changed in this chunk
        new_identifiers: list[ContactIdentifier] = []
        created = updated = 0
        rejected: list[tuple[int, str]] = []
        now = timezone.now()
        for row in rows:
            owners = {owner[(k, v)] for k, v in row.identifiers.items() if (k, v) in owner}
            if len(owners) > 1:
                keys = ", ".join(f"{k} {v}" for k, v in row.identifiers.items())
                rejected.append((row.line, f"its identifiers belong to different contacts ({keys})"))
                continue
            if owners:
                contact_id = owners.pop()
                contact = new_contacts.get(contact_id) or existing[contact_id]
                if row.display_name:
                    contact.display_name = row.display_name
                contact.attributes = {**(contact.attributes or {}), **row.attributes}
                if contact_id not in new_contacts:
                    contact.updated_at = now
                    touched[contact_id] = contact
                updated += 1
            else:
                contact = Contact(
                    workspace=workspace,
                    display_name=row.display_name,
                    attributes=row.attributes,
                    created_at=now,
                    updated_at=now,
                )
                new_contacts[contact.id] = contact
                created += 1
            for key, value in row.identifiers.items():
                if (key, value) not in owner:
                    owner[(key, value)] = contact.id
                    new_identifiers.append(
                        ContactIdentifier(workspace=workspace, contact_id=contact.id, key=key, value=value)
                    )
        # Contact ids are UUIDs made here, so identifiers can point at them before the
        # insert and no backend needs to return ids from bulk_create.
        Contact.objects.bulk_create(new_contacts.values(), batch_size=500)
        if touched:
            Contact.objects.bulk_update(touched.values(), ["display_name", "attributes", "updated_at"], batch_size=500)
        # No ignore_conflicts: a conflict here means a concurrent writer, and silently
        # dropping the identifier would leave an orphan contact. write_chunk retries.
        ContactIdentifier.objects.bulk_create(new_identifiers, batch_size=500)
        return created, updated, rejected

    @staticmethod
    def existing_owners(workspace: Workspace, rows: list[Row]) -> dict[tuple[str, str], object]:
        wanted: dict[str, set[str]] = {}
        for row in rows:
            for key, value in row.identifiers.items():
                wanted.setdefault(key, set()).add(value)
        owner: dict[tuple[str, str], object] = {}
        for key, values in wanted.items():
            for value, contact_id in ContactIdentifier.objects.filter(
                workspace=workspace, key=key, value__in=values
            ).values_list("value", "contact_id"):
                owner[(key, value)] = contact_id
        return owner
