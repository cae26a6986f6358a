"""`manage.py serve [--port N] [--host H] [--workers N]`: web server and workers together.

Starts two child processes in the foreground and forwards their output (they inherit
our stdout/stderr):
- daphne (through portal.daphne_web), serving HTTP and websockets (portal.asgi:application);
- the django-q2 cluster (`manage.py qcluster`), which runs the delivery tasks.

One Ctrl-C (SIGINT) or SIGTERM stops both: each gets SIGTERM, then SIGKILL if it has not
exited within --stop-timeout seconds. Each child runs in its own process group so that
the kill also reaches the cluster's worker processes, and so that a terminal's Ctrl-C
reaches them only through us (one orderly shutdown instead of three racing ones). If
either child dies on its own, the other is stopped and serve exits non-zero.
"""

import os
import signal
import socket
import subprocess
import sys
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from portal import balance

POLL_SECONDS = 0.2


def port_number(value: str, flag: str) -> int:
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise CommandError(f"{flag}: {value!r} is not a port number") from None
    if not 1 <= port <= 65535:
        raise CommandError(f"{flag}: {port} is not a port number (1-65535)")
    return port


class Child:
    """A child process in its own process group."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], pass_fds: tuple[int, ...] = ()):
        self.name = name
        self.process = subprocess.Popen(
            argv, env=env, cwd=settings.BASE_DIR, start_new_session=True, pass_fds=pass_fds
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def exited(self) -> int | None:
        return self.process.poll()

    def signal_group(self, signum: int) -> None:
        try:
            os.killpg(self.process.pid, signum)
        except ProcessLookupError:
            pass

    def stop(self, timeout: float) -> None:
        """SIGTERM to the child, wait, then SIGKILL what is left of its group.

        Only the leader gets SIGTERM: the qcluster sentinel then stops its own workers in
        order; the group-wide SIGKILL afterwards is for anything that outlived it.
        """
        if self.exited() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                sys.stderr.write(f"serve: {self.name} did not stop within {timeout:g}s; killing it\n")
        # Leftover workers of the group (or a stuck leader) go now.
        self.signal_group(signal.SIGKILL)
        self.process.wait()


class Command(BaseCommand):
    help = "Serve HTTP + websockets (daphne) and run the django-q2 workers, in the foreground, until Ctrl-C."

    def add_arguments(self, parser):
        parser.add_argument("--port", default=None, help="Port to listen on (default $PORT or 8000).")
        parser.add_argument("--host", default="127.0.0.1", help="Address to bind (default 127.0.0.1).")
        parser.add_argument("--workers", type=int, default=None, help="django-q2 worker processes (default Q_WORKERS).")
        parser.add_argument(
            "--web-processes",
            type=int,
            default=None,
            help="daphne processes sharing the port (default WEB_PROCESSES, 1): one per core for more HTTP "
            "and websocket throughput.",
        )
        parser.add_argument("--stop-timeout", type=float, default=10.0, help="Seconds to wait before killing a child.")

    def handle(self, *args, **options):
        port = self.resolve_port(options["port"])
        host = options["host"]
        env = dict(os.environ)
        env.setdefault("DJANGO_SETTINGS_MODULE", os.environ.get("DJANGO_SETTINGS_MODULE", "portal.settings"))
        if options["workers"] is not None:
            if options["workers"] < 1:
                raise CommandError(f"--workers: {options['workers']} must be 1 or more")
            env["Q_WORKERS"] = str(options["workers"])

        stop_requested = threading.Event()

        def request_stop(signum, frame):
            stop_requested.set()

        web = options["web_processes"] if options["web_processes"] is not None else settings.WEB_PROCESSES
        if ":" in host and options["web_processes"] is None and os.environ.get("WEB_PROCESSES", "auto").strip().lower() in ("", "auto"):
            web = 1  # daphne adopts IPv4 sockets only; "auto" does not turn an IPv6 --host into an error
        if web < 1:
            raise CommandError(f"--web-processes: {web} must be 1 or more")
        if settings.DATABASES["default"]["ENGINE"] == "portal.sqlite":
            # WAL checkpoints in the web processes' background thread, not in commits
            # (portal/sqlite/checkpoint.py); set to 0 to keep SQLite's own.
            env.setdefault("SQLITE_BACKGROUND_CHECKPOINT", "1")
        env["WEB_PROCESSES"] = str(web)  # the children's settings (WEB_THREADS' default) see the real count

        previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        children: list[Child] = []
        try:
            children += self.web_children(host, port, web, env)

            children.append(Child("qcluster", [sys.executable, str(settings.BASE_DIR / "manage.py"), "qcluster"], env))
            self.print_urls(host, port, children)
            code = self.supervise(children, stop_requested)
        finally:
            for child in children:
                child.stop(options["stop_timeout"])
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if code:
            raise SystemExit(code)
        self.stdout.write("serve: stopped")

    @staticmethod
    def web_children(host: str, port: int, count: int, env: dict[str, str]) -> list[Child]:
        """One daphne on host:port, or `count` of them accepting on one listening socket
        (opened here, inherited with daphne's --fd). Each runs through portal.daphne_web
        (daphne's own command line, start-up objects frozen: portal/heap.py), which makes
        each take new connections only while it holds no more than the least loaded of
        the others (portal/balance.py: a shared socket alone let whichever process woke
        first take a whole burst of keep-alive connections, and SO_REUSEPORT's address
        hash split 20 of them 17/3 as often as 10/10). Nothing a request or socket needs
        lives in one web process's memory (device routing, live and app relays, sessions
        go through the database or the channel layer), so any of them can serve any client."""
        app = "portal.asgi:application"
        if count == 1:
            return [Child("daphne", [sys.executable, "-m", "portal.daphne_web", "-b", host, "-p", str(port), app], env)]
        if ":" in host:  # daphne's --fd adopts IPv4 sockets only
            raise CommandError("--web-processes above 1 needs an IPv4 --host (e.g. 0.0.0.0)")
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((host, port))
            listener.listen(1024)
        except OSError as exc:
            listener.close()
            raise CommandError(f"cannot listen on {host}:{port}: {exc}") from None
        try:
            table = balance.create_table(count)
        except OSError as exc:
            listener.close()
            raise CommandError(f"cannot create the web processes' connection table: {exc}") from None
        try:
            fds = (listener.fileno(), table)
            return [
                Child(
                    f"daphne-{n}",
                    [sys.executable, "-m", "portal.daphne_web", "--fd", str(listener.fileno()), app],
                    {**env, balance.ENV: f"{table}:{n - 1}:{count}"},
                    pass_fds=fds,
                )
                for n in range(1, count + 1)
            ]
        finally:
            listener.close()  # each child holds its own copy
            os.close(table)

    @staticmethod
    def resolve_port(value: str | None) -> int:
        if value is not None:
            return port_number(value, "--port")
        if os.environ.get("PORT"):
            return port_number(os.environ["PORT"], "PORT")
        return 8000

    def print_urls(self, host: str, port: int, children: list[Child]) -> None:
        shown = f"[{host}]" if ":" in host else host
        base = f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else shown}:{port}"
        self.stdout.write(f"Switchboard is starting ({', '.join(f'{c.name} pid {c.pid}' for c in children)})")
        self.stdout.write(f"  Portal:    {base}/")
        self.stdout.write(f"  Admin:     {base}/admin/")
        self.stdout.write(f"  API docs:  {base}/api/docs/")
        self.stdout.write("Press Ctrl-C to stop.")
        self.stdout.flush()

    def supervise(self, children: list[Child], stop_requested: threading.Event) -> int:
        """Wait for a stop signal (→ 0) or a child's death (→ non-zero)."""
        while not stop_requested.wait(POLL_SECONDS):
            for child in children:
                code = child.exited()
                if code is not None:
                    sys.stderr.write(f"serve: {child.name} exited with status {code}; stopping the others\n")
                    return code or 1
        self.stdout.write("serve: stopping…")
        self.stdout.flush()
        return 0
