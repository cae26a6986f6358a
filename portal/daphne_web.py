"""`python -m portal.daphne_web ARGS`: daphne's own command line (same arguments), for the
web processes `manage.py serve --web-processes N` starts on one shared listening socket.
Before daphne starts it installs the least-connections accept of portal.balance, from the
table serve hands down (WEB_BALANCE); without that variable it is plain daphne."""

from portal import balance


def main() -> None:
    from daphne.cli import CommandLineInterface  # first: daphne installs twisted's asyncio reactor

    table = balance.table_from_env()
    if table is not None:
        balance.install(table)

    CommandLineInterface.entrypoint()


if __name__ == "__main__":
    main()
