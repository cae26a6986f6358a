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
