"""Database tuning that is no business of any one service (connected in messaging.listeners)."""

import sqlite3

from django.db import connection


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


def writes_are_serialized() -> bool:
    """SQLite in IMMEDIATE mode (portal/settings.py) takes the write lock at BEGIN, so inside
    our transaction no other writer runs between a read and our insert."""
    return (
        connection.vendor == "sqlite"
        and connection.in_atomic_block
        and connection.settings_dict.get("OPTIONS", {}).get("transaction_mode") == "IMMEDIATE"
    )


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)


def _execute_insert(model, fields: list, rows: list[list]) -> None:
    columns = ", ".join(_quote(f.column) for f in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    sql = f"INSERT INTO {_quote(model._meta.db_table)} ({columns}) VALUES ({placeholders})"
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def insert_rows(model, fields: list[str], rows: list[tuple]) -> None:
    """INSERT plain rows (values in `fields` order) into `model`'s table, one executemany.

    For rows fully known up front (a message's first event, its receiver links). No model
    instances, no signals (bulk_create sends none either)."""
    if not rows:
        return
    model_fields = [model._meta.get_field(name) for name in fields]
    prepared = [
        [field.get_db_prep_save(value, connection) for field, value in zip(model_fields, row, strict=True)]
        for row in rows
    ]
    _execute_insert(model, model_fields, prepared)


def insert_instances(objs: list) -> None:
    """bulk_create() for new instances of one model whose primary key is already set (UUIDs),
    without its per-call query compilation. Fields' pre_save runs (auto_now and the like)."""
    if not objs:
        return
    model = type(objs[0])
    if model._meta.parents:
        raise TypeError("insert_instances does not handle multi-table inheritance")
    fields = list(model._meta.concrete_fields)
    rows = []
    for obj in objs:
        if obj.pk is None:
            raise ValueError("insert_instances needs primary keys set up front")
        rows.append([f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields])
    _execute_insert(model, fields, rows)
    for obj in objs:
        obj._state.adding = False
        obj._state.db = connection.alias


def _converted(fields: list, values) -> list:
    out = []
    for field, value in zip(fields, values, strict=True):
        col = field.get_col(field.model._meta.db_table)
        for convert in connection.ops.get_db_converters(col) + col.get_db_converters(connection):
            value = convert(value, col, connection)
        out.append(value)
    return out


def get_with_parent(model, parent: str, **equals):
    """The one `model` row matching `equals` (field=value, all AND-ed), with its foreign key
    `parent` loaded in the same SELECT (like select_related), or None."""
    meta = model._meta
    fk = meta.get_field(parent)
    parent_model = fk.related_model
    own, theirs = list(meta.concrete_fields), list(parent_model._meta.concrete_fields)
    table, parent_table = meta.db_table, parent_model._meta.db_table
    select = ", ".join(
        [f"{_quote(table)}.{_quote(f.column)}" for f in own]
        + [f"{_quote(parent_table)}.{_quote(f.column)}" for f in theirs]
    )
    where, params = [], []
    for name, value in equals.items():
        field = meta.get_field(name)
        where.append(f"{_quote(table)}.{_quote(field.column)} = %s")
        params.append(field.get_db_prep_value(field.to_python(value), connection))
    sql = (
        f"SELECT {select} FROM {_quote(table)} INNER JOIN {_quote(parent_table)}"
        f" ON {_quote(table)}.{_quote(fk.column)} = {_quote(parent_table)}.{_quote(fk.target_field.column)}"
        f" WHERE {' AND '.join(where)} LIMIT 1"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    obj = model.from_db(connection.alias, [f.attname for f in own], _converted(own, row[: len(own)]))
    related = parent_model.from_db(
        connection.alias, [f.attname for f in theirs], _converted(theirs, row[len(own) :])
    )
    fk.set_cached_value(obj, related)
    return obj


_OPERATORS = {"": "=", "gt": ">"}


def exists(model, **lookups) -> bool:
    """Whether a row matches `lookups` (field=value or field__gt=value, AND-ed): the
    ORM's .filter(...).exists() for the few checks made on every request."""
    meta = model._meta
    where, params = [], []
    for lookup, value in lookups.items():
        name, _, op = lookup.partition("__")
        field = meta.get_field(name)
        where.append(f"{_quote(field.column)} {_OPERATORS[op]} %s")
        params.append(field.get_db_prep_value(value, connection))
    sql = f"SELECT 1 FROM {_quote(meta.db_table)} WHERE {' AND '.join(where)} LIMIT 1"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone() is not None
