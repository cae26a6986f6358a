"""`manage.py importcontacts --workspace ID FILE.csv`: bulk contact import.

The header row names the columns: displayName/name, phonenumber/phone, emailaddress/
email, customerid, userid (case, spaces, `_` and `-` ignored); every other column becomes
an attribute. Identifiers are normalised as everywhere else (E.164 phone numbers in the
workspace's region, lower-cased emails). A row whose identifier already belongs to a
contact updates that contact (display name, attributes merged, new identifiers added);
otherwise a contact is created. A bad row is reported with its line number and reason
on stderr and skipped; the good rows are still imported.

Fast by design: rows are handled in chunks, each chunk's existing identifiers are fetched
in one query per key, and contacts and identifiers are written with one executemany
per table in one transaction per chunk (see insert_rows below).
"""

import csv
import sys
import uuid
from dataclasses import dataclass, field

from django.core.management.base import CommandError
from django.db import IntegrityError, connections, router, transaction
from django.utils import timezone
from tqdm import tqdm

from messaging.errors import ValidationFailed
from messaging.management.base import SwitchboardCommand, get_workspace
from messaging.models import Contact, ContactIdentifier, IdentifierKey, Workspace
from messaging.services.identifiers import normalize

CHUNK_SIZE = 1000
MAX_REPORTED_ERRORS = 100
CHUNK_RETRIES = 3

# Normalised header → what the column holds. Anything else is an attribute. Plain str
# values, not enum members: they are hashed for every identifier of every row.
COLUMN_ALIASES = {
    "displayname": "display_name",
    "name": "display_name",
    "fullname": "display_name",
    "phonenumber": IdentifierKey.PHONENUMBER.value,
    "phone": IdentifierKey.PHONENUMBER.value,
    "msisdn": IdentifierKey.PHONENUMBER.value,
    "mobile": IdentifierKey.PHONENUMBER.value,
    "emailaddress": IdentifierKey.EMAILADDRESS.value,
    "email": IdentifierKey.EMAILADDRESS.value,
    "customerid": IdentifierKey.CUSTOMERID.value,
    "userid": IdentifierKey.USERID.value,
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
            raise CommandError(
                f"FILE.csv: {path} is not UTF-8 text ({exc.reason} at byte {exc.start})"
            ) from None
        except csv.Error as exc:
            raise CommandError(f"FILE.csv: {path} is not valid CSV ({exc})") from None
        report = self.report
        self.emit(
            options,
            report.as_dict(),
            [
                f"Imported {path}: {report.created} created, {report.updated} updated, {report.rejected} rejected"
            ],
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

    def parse_row(
        self, workspace: Workspace, line: int, header: list[str], roles: list, values: list[str]
    ) -> Row:
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
        # id → [display_name, attributes, changed?] of contacts that exist already
        existing = {
            cid: [name, attrs or {}, False]
            for cid, name, attrs in Contact.objects.filter(id__in=set(owner.values())).values_list(
                "id", "display_name", "attributes"
            )
        }
        new_contacts: dict = {}  # id → [display_name, attributes] of contacts made here
        new_identifiers: list[tuple] = []
        created = updated = 0
        rejected: list[tuple[int, str]] = []
        for row in rows:
            owners = {owner[(k, v)] for k, v in row.identifiers.items() if (k, v) in owner}
            if len(owners) > 1:
                keys = ", ".join(f"{k} {v}" for k, v in row.identifiers.items())
                rejected.append((row.line, f"its identifiers belong to different contacts ({keys})"))
                continue
            if owners:
                contact_id = owners.pop()
                self.merge(new_contacts.get(contact_id) or existing[contact_id], row)
                updated += 1
            else:
                contact_id = uuid.uuid4()
                new_contacts[contact_id] = [row.display_name, row.attributes, True]
                created += 1
            for key, value in row.identifiers.items():
                if (key, value) not in owner:
                    owner[(key, value)] = contact_id
                    new_identifiers.append((contact_id, key, value))
        now = timezone.now()
        insert_rows(
            Contact,
            {"workspace_id": workspace.id, "created_at": now, "updated_at": now},
            ("id", "display_name", "attributes"),
            [(cid, name, attrs) for cid, (name, attrs, _) in new_contacts.items()],
        )
        # Only contacts whose name or attributes really changed are written (a re-import
        # of the same file writes nothing but the new identifiers).
        update_rows(
            Contact,
            {"updated_at": now},
            ("display_name", "attributes"),
            [(cid, name, attrs) for cid, (name, attrs, changed) in existing.items() if changed],
        )
        # A conflict here means a concurrent writer added one of these identifiers since
        # existing_owners() read them: the IntegrityError rolls the chunk back and
        # write_chunk plans it again (ignore_conflicts would leave an orphan contact).
        insert_rows(
            ContactIdentifier, {"workspace_id": workspace.id}, ("contact_id", "key", "value"), new_identifiers
        )
        return created, updated, rejected

    @staticmethod
    def merge(state: list, row: Row) -> None:
        """Apply a row to [display_name, attributes, changed]: a name replaces, attributes merge."""
        name = row.display_name or state[0]
        attributes = {**state[1], **row.attributes}
        if name != state[0] or attributes != state[1]:
            state[0], state[1], state[2] = name, attributes, True

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


# --- raw bulk writes ---------------------------------------------------------------------
# bulk_create/bulk_update build a model instance per row and (for updates) one huge CASE
# expression; for 100k rows that costs more than the database work. These write the same
# rows with one executemany, preparing each value with its field's own get_db_prep_save
# (so UUIDs, JSON and datetimes are stored exactly as the ORM stores them, on SQLite and
# PostgreSQL alike) and preparing per-chunk constants once.


def _prepared_constants(model, constants: dict, varying: tuple[str, ...], connection) -> dict[str, object]:
    """Every column not given per row: the given constant or the field's default."""
    out = {}
    for model_field in model._meta.concrete_fields:
        name = model_field.attname
        if name in varying or (name not in constants and model_field.db_returning):
            continue  # per-row values, or an auto-increment id the database assigns
        value = constants[name] if name in constants else model_field.get_default()
        out[model_field.column] = model_field.get_db_prep_save(value, connection)
    return out


def insert_rows(model, constants: dict, varying: tuple[str, ...], rows: list[tuple]) -> None:
    if not rows:
        return
    connection = connections[router.db_for_write(model)]
    qn = connection.ops.quote_name
    fixed = _prepared_constants(model, constants, varying, connection)
    fields = [model._meta.get_field(name) for name in varying]
    columns = [*fixed, *(f.column for f in fields)]
    sql = "INSERT INTO {} ({}) VALUES ({})".format(
        qn(model._meta.db_table), ", ".join(qn(c) for c in columns), ", ".join(["%s"] * len(columns))
    )
    fixed_values = tuple(fixed.values())
    params = [
        fixed_values + tuple(f.get_db_prep_save(v, connection) for f, v in zip(fields, row, strict=True))
        for row in rows
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def update_rows(model, constants: dict, varying: tuple[str, ...], rows: list[tuple]) -> None:
    """UPDATE by primary key; each row is (pk, *values of `varying`)."""
    if not rows:
        return
    connection = connections[router.db_for_write(model)]
    qn = connection.ops.quote_name
    pk = model._meta.pk
    fixed = {
        model._meta.get_field(n).column: model._meta.get_field(n).get_db_prep_save(v, connection)
        for n, v in constants.items()
    }
    fields = [model._meta.get_field(name) for name in varying]
    assignments = [f"{qn(c)} = %s" for c in [*fixed, *(f.column for f in fields)]]
    sql = f"UPDATE {qn(model._meta.db_table)} SET {', '.join(assignments)} WHERE {qn(pk.column)} = %s"
    fixed_values = tuple(fixed.values())
    params = [
        fixed_values
        + tuple(f.get_db_prep_save(v, connection) for f, v in zip(fields, values, strict=True))
        + (pk.get_db_prep_save(row_pk, connection),)
        for row_pk, *values in rows
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)
