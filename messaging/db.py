"""Database tuning that is no business of any one service (connected in messaging.listeners)."""

import re
import sqlite3
from contextlib import contextmanager

from django.db import DEFAULT_DB_ALIAS, connection, connections, models
from django.db.backends.base.operations import BaseDatabaseOperations
from django.db.models.constants import OnConflict


def use_sqlite_variable_limit(sender, connection, **kwargs) -> None:
    """connection_created handler: let Django batch bulk inserts by SQLite's real limit.

    Django 5.2 assumes SQLite's old compile-time default of 999 variables per statement,
    so a bulk insert of 1,000 messages (~55 columns) became ~55 INSERTs. SQLite since
    3.32 allows at least 32,766 (Debian's build 250,000); Django 6 reads the limit too.
    """
    if connection.vendor != "sqlite":
        return
    limit = connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    connection.features.max_query_params = max(999, limit)


# --- hot-path statements -------------------------------------------------------------------
# The send endpoint runs a handful of statements whose shape never changes. Django's ORM
# builds and compiles each one anew per request, which cost more CPU than the database
# took to answer (bench/send.py). These helpers write such statements out once, from the
# models' own metadata (table and column names), and convert values both ways through
# the fields themselves (get_db_prep_* going in, the backend's and the field's db
# converters coming out), so rows are stored and read exactly as the ORM would.


@contextmanager
def pipelined():
    """On PostgreSQL, the statements run inside go to the server without waiting for each
    one's answer (psycopg's pipeline mode): a transaction's inserts cost one round trip,
    at the end of the block, instead of one each. Reading a result inside the block waits
    for what was sent before it, so reads stay correct, just not pipelined. An error is
    raised at the latest at the end of the block, as Django's exception (IntegrityError...).
    Elsewhere (SQLite: no round trips) it does nothing."""
    if connection.vendor != "postgresql":
        yield
        return
    connection.ensure_connection()
    with connection.wrap_database_errors, connection.connection.pipeline():
        yield


def writes_are_serialized() -> bool:
    """SQLite in IMMEDIATE mode (portal/settings.py) takes the write lock at BEGIN, so inside
    our transaction no other writer runs between a read and our insert."""
    return (
        connection.vendor == "sqlite"
        and connection.in_atomic_block
        and connection.settings_dict.get("OPTIONS", {}).get("transaction_mode") == "IMMEDIATE"
    )


def _real():
    """The default connection itself. `connection` is a proxy that finds the thread's
    connection again (an asgiref Local lookup) on every attribute access, and fields
    consult the connection they are given for every value they convert: passing this
    instead was ~4% of a send's CPU (py-spy, stop 13)."""
    return connections[DEFAULT_DB_ALIAS]


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)


# Statement texts by shape (model, columns, lookups). Quoting is the same on every
# connection of a process's one database, so a text is built once and reused.
_statements: dict[tuple, str] = {}


def _statement(key: tuple, build) -> str:
    sql = _statements.get(key)
    if sql is None:
        sql = _statements[key] = build()
    return sql


def statement(key: tuple, build) -> str:
    """A hot path's own statement text, built by `build()` once per process for `key` (a
    shape: include everything the text depends on). Use quote() for names inside it."""
    return _statement(("own", *key), build)


def quote(name: str) -> str:
    return _quote(name)


def column(model, name: str) -> str:
    """`"table"."column"` of a model's field, quoted."""
    meta = model._meta
    return f"{_quote(meta.db_table)}.{_quote(meta.get_field(name).column)}"


def prepared(model, name: str, value):
    """`value` as a query parameter for `model`'s field `name`, as the ORM would pass it."""
    return model._meta.get_field(name).get_db_prep_value(value, _real())


_OPERATORS = {"": "=", "gt": ">", "lt": "<", "in": "IN"}


def in_list_size(count: int) -> int:
    """How many placeholders an IN list of `count` values gets: the next power of two, the
    rest filled with a repeat of the last value. Statement texts are cached per shape, so
    exact lengths would keep one text per length ever seen (the sweeper alone passes up to
    10,000 ids); this way there are at most ~15 per statement."""
    return 1 << max(count - 1, 0).bit_length()


def _where(model, lookups: dict) -> tuple[tuple, list, callable]:
    """(shape, params, build) of `WHERE a = %s AND b > %s AND c IN (%s, %s)` for lookups
    field=value, field__gt=value, field__in=[values] (AND-ed), values prepared by the fields.
    The text itself is only built (by `build`) when its shape is not cached yet."""
    meta = model._meta
    shape, params = [], []
    conn = _real()
    for lookup, value in lookups.items():
        name, _, op = lookup.partition("__")
        field = meta.get_field(name)
        if op == "in":
            values = list(value)
            if not values:
                raise ValueError(f"{lookup}: an empty list matches nothing; check before querying")
            size = in_list_size(len(values))
            shape.append((name, op, size))
            params.extend(field.get_db_prep_value(field.to_python(v), conn) for v in values)
            params.extend([params[-1]] * (size - len(values)))  # a repeated value changes no IN
        else:
            shape.append((name, op, 1))
            params.append(field.get_db_prep_value(field.to_python(value), conn))

    def build() -> str:
        parts = []
        for name, op, count in shape:
            column = f"{_quote(meta.db_table)}.{_quote(meta.get_field(name).column)}"
            if op == "in":
                parts.append(f"{column} IN ({', '.join(['%s'] * count)})")
            else:
                parts.append(f"{column} {_OPERATORS[op]} %s")
        return " AND ".join(parts)

    return tuple(shape), params, build


def where(model, **lookups) -> tuple[tuple, list, callable]:
    """(shape, params, build) of a WHERE condition for a hot path's own statement: see _where.
    Put the shape in the statement's cache key and `build()` into its text."""
    return _where(model, lookups)


def _execute_insert(
    model, fields: list, rows: list, ignore_conflicts: bool = False, columns: list[list] | None = None
) -> None:
    """INSERT `rows` (prepared values in `fields` order); `columns`, if given, are the
    same values column by column (saves the transposing for the many-row form)."""
    on_conflict = OnConflict.IGNORE if ignore_conflicts else None

    def build() -> str:
        columns = ", ".join(_quote(f.column) for f in fields)
        placeholders = ", ".join(["%s"] * len(fields))
        suffix = connection.ops.on_conflict_suffix_sql(fields, on_conflict, None, None)
        return (
            f"{connection.ops.insert_statement(on_conflict=on_conflict)} {_quote(model._meta.db_table)}"
            f" ({columns}) VALUES ({placeholders}) {suffix}"
        ).rstrip()

    if len(rows) > 1 and (array_types := _array_types(fields)) is not None:
        _insert_arrays(model, fields, array_types, columns or [list(c) for c in zip(*rows, strict=True)], on_conflict)
        return
    sql = _statement(("insert", model, tuple(f.attname for f in fields), ignore_conflicts), build)
    with connection.cursor() as cursor:
        if len(rows) == 1:  # psycopg's executemany sets up a pipeline: costly for one row
            cursor.execute(sql, rows[0])
        else:
            cursor.executemany(sql, rows)


def _array_types(fields: list) -> list[str] | None:
    """On PostgreSQL, each field's column type, for _insert_arrays(); None where that does
    not apply (another database, or a JSON column: a list of those is no jsonb array)."""
    if connection.vendor != "postgresql":
        return None
    types = [f.db_type(connection) for f in fields]
    if any(t is None or "json" in t or "serial" in t or "[" in t for t in types):  # unnest flattens arrays
        return None
    # Without a length or precision: an explicit cast to varchar(n) cuts a longer value
    # silently, where storing it into the column raises an error as a plain INSERT does.
    return [re.sub(r"\(.*?\)", "", t) for t in types]


def _insert_arrays(model, fields: list, types: list[str], columns: list[list], on_conflict) -> None:
    """Many rows in one INSERT ... SELECT FROM unnest(one array per column).

    executemany runs the INSERT once per row: with the statement prepared that is still a
    server round of bind and execute, and psycopg's work, for every row (the dispatcher's
    three events per message were a third of the server's statements under load). One
    statement of one shape, whatever the row count, so it is prepared once."""

    def build() -> str:
        columns = ", ".join(_quote(f.column) for f in fields)
        arrays = ", ".join(f"%s::{t}[]" for t in types)
        suffix = connection.ops.on_conflict_suffix_sql(fields, on_conflict, None, None)
        return (
            f"{connection.ops.insert_statement(on_conflict=on_conflict)} {_quote(model._meta.db_table)}"
            f" ({columns}) SELECT * FROM unnest({arrays}) {suffix}"
        ).rstrip()

    sql = _statement(("insert-arrays", model, tuple(f.attname for f in fields), on_conflict), build)
    with connection.cursor() as cursor:
        cursor.execute(sql, columns)


def insert_rows(model, fields: list[str], rows: list[tuple], ignore_conflicts: bool = False) -> None:
    """INSERT plain rows (values in `fields` order) into `model`'s table, one executemany.

    For rows fully known up front (a message's first event, its receiver links). No model
    instances, no signals (bulk_create sends none either). `ignore_conflicts` skips rows
    that would break a unique constraint, as bulk_create(ignore_conflicts=True) does."""
    if not rows:
        return
    model_fields, columns = _prepared_columns(model, fields, rows)
    _execute_insert(model, model_fields, list(zip(*columns, strict=True)), ignore_conflicts, columns=columns)


def _prepared_columns(model, fields: list[str], rows: list[tuple]) -> tuple[list, list[list]]:
    """The model fields named and the rows' values converted by them, column by column."""
    model_fields = [model._meta.get_field(name) for name in fields]
    if any(len(row) != len(fields) for row in rows):
        raise ValueError(f"every row needs {len(fields)} values ({', '.join(fields)})")
    # Column by column, converting a value only where it differs from the row before's
    # (the same object): the dispatcher's events share status, reason, actor and time,
    # and converting each of them per row was a quarter of its CPU (cProfile, stop 13).
    columns, conn = [], _real()
    for field, values in zip(model_fields, zip(*rows, strict=True), strict=True):
        out, last, converted = [], _UNSET, None
        for value in values:
            if value is not last:
                converted, last = field.get_db_prep_save(value, conn), value
            out.append(converted)
        columns.append(out)
    return model_fields, columns


def insert_together(first: "PreparedRows", *more: tuple) -> None:
    """PostgreSQL: prepare_instances() rows and further plain rows, `more` as
    (model, field names, rows) like insert_rows() takes them, inserted by ONE statement
    (the others as data-modifying WITH clauses). One statement is atomic by itself, so
    outside a transaction it needs no BEGIN and COMMIT of its own: a send's message, its
    receiver link and its first event cost one round trip, where a transaction cost two
    and psycopg's pipeline work. Rows may refer to each other: Django's foreign keys are
    DEFERRABLE INITIALLY DEFERRED, checked when the statement (or the caller's
    transaction) ends. The instances then count as saved."""
    if connection.vendor != "postgresql":
        raise NotImplementedError("insert_together needs PostgreSQL's data-modifying WITH")
    parts = [(type(first.objs[0]), first.fields, first.rows)]
    for model, names, rows in more:
        if rows:
            fields, columns = _prepared_columns(model, names, rows)
            parts.append((model, fields, list(zip(*columns, strict=True))))

    def build() -> str:
        inserts = []
        for model, fields, rows in parts:
            columns = ", ".join(_quote(f.column) for f in fields)
            row = "(" + ", ".join(["%s"] * len(fields)) + ")"
            inserts.append(f"INSERT INTO {_quote(model._meta.db_table)} ({columns}) VALUES {', '.join([row] * len(rows))}")
        *earlier, last = inserts
        if not earlier:
            return last
        return "WITH " + ", ".join(f"i{n} AS ({sql})" for n, sql in enumerate(earlier)) + f" {last}"

    key = ("together", tuple((model, tuple(f.attname for f in fields), len(rows)) for model, fields, rows in parts))
    sql = _statement(key, build)
    with connection.cursor() as cursor:
        cursor.execute(sql, [value for _, _, rows in parts for row in rows for value in row])
    _mark_saved(first.objs)


_UNSET = object()


def insert_instances(objs: list) -> None:
    """bulk_create() for new instances of one model whose primary key is already set (UUIDs),
    without its per-call query compilation. Fields' pre_save runs (auto_now and the like)."""
    insert_prepared(prepare_instances(objs))


class PreparedRows:
    """New instances of one model turned into query parameters by prepare_instances()."""

    def __init__(self, objs: list, fields: list, rows: list):
        self.objs, self.fields, self.rows = objs, fields, rows


def prepare_instances(objs: list) -> PreparedRows:
    """The parameters insert_prepared() will insert for `objs` (see insert_instances).

    Separate so a writer can convert values before its transaction: on SQLite a write
    transaction holds the database's one write lock, and converting a message's ~55 fields
    took ~0.4 ms of the ~2 ms a send held it."""
    model = type(objs[0]) if objs else None
    if model is not None and model._meta.parents:
        raise TypeError("insert_instances does not handle multi-table inheritance")
    fields = list(model._meta.concrete_fields) if model is not None else []
    rows, conn = [], _real()
    plan = _save_plan(model, conn) if model is not None else []
    for obj in objs:
        if obj.pk is None:
            raise ValueError("insert_instances needs primary keys set up front")
        row = []
        for field, attname, same_type in plan:
            value = getattr(obj, attname) if attname else field.pre_save(obj, True)
            if type(value) is not same_type:  # (NoneType never is: None takes the long way)
                value = field.get_db_prep_save(value, conn)
            row.append(value)
        rows.append(row)
    return PreparedRows(list(objs), fields, rows)


# Field classes whose get_db_prep_save() hands back a value of this exact type unchanged
# (their get_prep_value is to_python() or str() of it). Integer fields too where the
# backend passes integers through (not psycopg 3, which wraps them as Int2/Int4/Int8).
_PASSTHROUGH = {models.CharField: str, models.TextField: str, models.BooleanField: bool}
_INTEGERS = (
    models.IntegerField,
    models.SmallIntegerField,
    models.BigIntegerField,
    models.PositiveIntegerField,
    models.PositiveSmallIntegerField,
    models.PositiveBigIntegerField,
)
_save_plans: dict = {}


def _save_plan(model, conn) -> list[tuple]:
    """Per concrete field of `model`: (field, attname if the value is read as the plain
    attribute, else None for pre_save(), the type whose values need no conversion or
    None). A message has ~45 fields, and converting each through get_db_prep_save took
    ~6% of a send's CPU on SQLite (py-spy, stop 13): strings and flags skip it."""
    plan = _save_plans.get((model, conn.vendor))
    if plan is None:
        integers_pass = type(conn.ops).adapt_integerfield_value is BaseDatabaseOperations.adapt_integerfield_value
        plan = []
        for field in model._meta.concrete_fields:
            plain = type(field).pre_save is models.Field.pre_save
            same_type = _PASSTHROUGH.get(type(field))  # exact classes: a subclass may convert
            if same_type is None and integers_pass and type(field) in _INTEGERS:
                same_type = int
            plan.append((field, field.attname if plain else None, same_type))
        _save_plans[(model, conn.vendor)] = plan
    return plan


def insert_prepared(prepared: PreparedRows) -> None:
    """INSERT what prepare_instances() made; the instances then count as saved."""
    if not prepared.objs:
        return
    _execute_insert(type(prepared.objs[0]), prepared.fields, prepared.rows)
    _mark_saved(prepared.objs)


def _mark_saved(objs: list) -> None:
    alias = _real().alias
    for obj in objs:
        obj._state.adding = False
        obj._state.db = alias


_converter_lists: dict[tuple, list] = {}


def _converters(fields: list) -> list:
    """Per field, the converters the ORM applies to a value read from the database."""
    key = tuple(fields)
    found = _converter_lists.get(key)
    if found is None:
        found = []
        for field in fields:
            col = field.get_col(field.model._meta.db_table)
            found.append((col, connection.ops.get_db_converters(col) + col.get_db_converters(connection)))
        _converter_lists[key] = found
    return found


def _converted(converters: list, values, conn) -> list:
    out = []
    for (col, funcs), value in zip(converters, values, strict=True):
        if value is not None:  # every converter of Django's fields keeps NULL as None
            for convert in funcs:
                value = convert(value, col, conn)
        out.append(value)
    return out


def converted_rows(model, fields: list[str], rows) -> list[tuple]:
    """Rows of `model`'s `fields` as fetched by a hot path's own SELECT, converted as the
    ORM's values_list() would."""
    converters, conn = _converters([model._meta.get_field(name) for name in fields]), _real()
    return [tuple(_converted(converters, row, conn)) for row in rows]


def select_rows(model, fields: list[str], for_update: bool = False, **lookups) -> list[tuple]:
    """values_list(*fields) of the rows matching `lookups` (see _where), converted as the ORM
    would; `for_update` locks them as select_for_update() does (where the database can)."""
    meta = model._meta
    model_fields = [meta.get_field(name) for name in fields]
    shape, params, where = _where(model, lookups)
    for_update = for_update and connection.features.has_select_for_update

    def build() -> str:
        columns = ", ".join(f"{_quote(meta.db_table)}.{_quote(f.column)}" for f in model_fields)
        sql = f"SELECT {columns} FROM {_quote(meta.db_table)} WHERE {where()}"
        return f"{sql} FOR UPDATE" if for_update else sql

    sql = _statement(("select", model, tuple(fields), shape, for_update), build)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        fetched = cursor.fetchall()
    return converted_rows(model, fields, fetched)


def update_rows(model, values: dict, increments: dict | None = None, **lookups) -> int:
    """UPDATE the rows matching `lookups` (see _where): set `values` (field → plain value,
    prepared by the field as .update() does) and add `increments` (field → number) to
    columns in place; returns how many rows matched (-1 inside pipelined(): not known yet)."""
    meta = model._meta
    increments = increments or {}
    value_fields = [meta.get_field(name) for name in values]
    shape, where_params, where = _where(model, lookups)

    def build() -> str:
        sets = [f"{_quote(f.column)} = %s" for f in value_fields]
        sets += [f"{_quote(c)} = {_quote(c)} + %s" for c in (meta.get_field(n).column for n in increments)]
        return f"UPDATE {_quote(meta.db_table)} SET {', '.join(sets)} WHERE {where()}"

    sql = _statement(("update", model, tuple(values), tuple(increments), shape), build)
    conn = _real()
    params = [f.get_db_prep_save(v, conn) for f, v in zip(value_fields, values.values(), strict=True)]
    params += [int(n) for n in increments.values()]
    with connection.cursor() as cursor:
        cursor.execute(sql, params + where_params)
        return cursor.rowcount


def exists(model, **lookups) -> bool:
    """Whether a row matches `lookups` (see _where): .filter(...).exists() for the few
    checks made on every request."""
    shape, params, where = _where(model, lookups)
    sql = _statement(
        ("exists", model, shape), lambda: f"SELECT 1 FROM {_quote(model._meta.db_table)} WHERE {where()} LIMIT 1"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone() is not None


def get_with_parent(model, parent: str, **equals):
    """The one `model` row matching `equals` (field=value, AND-ed), with its foreign key
    `parent` loaded in the same SELECT (like select_related), or None."""
    found = all_with_parent(model, parent, limit=1, **equals)
    return found[0] if found else None


def all_with_parent(
    model, parent: str, limit: int | None = None, order_by: tuple = (), parent_fields: tuple | None = None, **equals
) -> list:
    """The `model` rows matching `equals`, each with its foreign key `parent` loaded in
    the same SELECT (like select_related; a nullable key is an outer join and a row without
    a parent gets None); at most `limit` of them, ordered by the fields `order_by`.
    `parent_fields` names the parent's fields to load (the rest are deferred, as with
    .defer()); all of them by default."""
    meta = model._meta
    fk = meta.get_field(parent)
    parent_model = fk.related_model
    own = list(meta.concrete_fields)
    theirs = list(parent_model._meta.concrete_fields)
    if parent_fields is not None:
        wanted = {parent_model._meta.pk.name, *parent_fields}
        theirs = [f for f in theirs if f.name in wanted]
    shape, params, where = _where(model, equals)

    def build() -> str:
        table, parent_table = _quote(meta.db_table), _quote(parent_model._meta.db_table)
        columns = ", ".join(
            [f"{table}.{_quote(f.column)}" for f in own] + [f"{parent_table}.{_quote(f.column)}" for f in theirs]
        )
        join = f"{table}.{_quote(fk.column)} = {parent_table}.{_quote(fk.target_field.column)}"
        kind = "LEFT OUTER JOIN" if fk.null else "INNER JOIN"
        sql = f"SELECT {columns} FROM {table} {kind} {parent_table} ON {join} WHERE {where()}"
        if order_by:
            sql += " ORDER BY " + ", ".join(f"{table}.{_quote(meta.get_field(n).column)}" for n in order_by)
        return f"{sql} LIMIT {int(limit)}" if limit else sql

    key = ("with_parent", model, parent, shape, limit, tuple(order_by), tuple(f.name for f in theirs))
    sql = _statement(key, build)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    own_names, their_names = [f.attname for f in own], [f.attname for f in theirs]
    own_converters, their_converters = _converters(own), _converters(theirs)
    parent_pk = their_names.index(parent_model._meta.pk.attname)
    found, conn = [], _real()
    for row in rows:
        obj = model.from_db(conn.alias, own_names, _converted(own_converters, row[: len(own)], conn))
        values = row[len(own) :]
        related = None
        if values[parent_pk] is not None:
            related = parent_model.from_db(conn.alias, their_names, _converted(their_converters, values, conn))
        fk.set_cached_value(obj, related)
        found.append(obj)
    return found
