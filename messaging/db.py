"""Database tuning that is no business of any one service (connected in messaging.listeners)."""

import sqlite3


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


def insert_rows(model, fields: list[str], rows: list[tuple]) -> None:
    """INSERT plain rows into `model`'s table with one executemany, no model instances.

    For the few hot-path tables whose rows are fully known up front (a message's first
    event, its receiver links): bulk_create builds a model instance and compiles an
    INSERT per call, which cost more than the database's work. Each value still goes
    through its field's get_db_prep_save, so UUIDs, datetimes and JSON are stored exactly
    as the ORM would store them. No signals are sent (bulk_create sends none either).
    """
    if not rows:
        return
    from django.db import connection

    model_fields = [model._meta.get_field(name) for name in fields]
    q = connection.ops.quote_name
    columns = ", ".join(q(f.column) for f in model_fields)
    placeholders = ", ".join(["%s"] * len(model_fields))
    sql = f"INSERT INTO {q(model._meta.db_table)} ({columns}) VALUES ({placeholders})"
    prepared = [
        [field.get_db_prep_save(value, connection) for field, value in zip(model_fields, row, strict=True)]
        for row in rows
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, prepared)
