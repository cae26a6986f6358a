"""`python -m portal.daphne_web ARGS`: daphne with its own command line (same arguments),
as `manage.py serve` runs each web process.

Before daphne starts serving it
- installs the least-connections accept of portal.balance, from the table serve hands
  down (WEB_BALANCE) when several web processes share one listening socket;
- builds the application (portal.asgi, the one serve names) and freezes everything
  imported by then out of the garbage collector's full passes (portal.heap);
- on SQLite under serve, starts the background WAL checkpointer (portal/sqlite/checkpoint.py).

Only here, not on every import of portal.asgi: a test process or a benchmark that
imports it keeps its ordinary garbage collection.
"""

from portal import balance


def prepare() -> None:
    """Everything before daphne's own start (see the module docstring)."""
    import daphne.server  # noqa: F401 (first: it installs twisted's asyncio reactor)

    table = balance.table_from_env()
    if table is not None:
        balance.install(table)

    import portal.asgi  # noqa: F401 (daphne then finds the application imported)
    from portal.heap import freeze_startup_objects

    freeze_startup_objects()

    from portal.sqlite.checkpoint import start_for_default_database

    start_for_default_database()


def main() -> None:
    prepare()
    from daphne.cli import CommandLineInterface

    CommandLineInterface.entrypoint()


if __name__ == "__main__":
    main()
