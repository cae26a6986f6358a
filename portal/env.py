"""Tiny helpers that read settings from the environment.

A bad value stops start-up with ImproperlyConfigured naming the variable, instead of
surfacing later as a confusing runtime error.
"""

import os
from urllib.parse import urlparse

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def envstr(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def envbool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use 1/0, true/false, yes/no, on/off)")


def envint(name: str, default: int, minimum: int | None = None, maximum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value} is below the minimum {minimum}")
    if maximum is not None and value > maximum:
        raise ImproperlyConfigured(f"{name}={value} is above the maximum {maximum}")
    return value


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity on Linux; all of them elsewhere)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and others
        return os.cpu_count() or 1


def web_processes(raw: str, cores: int | None = None) -> int:
    """WEB_PROCESSES: a number from 1 to 64, or "auto" — one per CPU core this process may
    use, at most 4 (each process is another set of database connections)."""
    if raw.strip().lower() in ("", "auto"):
        return max(1, min(4, cores if cores is not None else usable_cores()))
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"WEB_PROCESSES={raw!r} is not a number or 'auto'") from None
    if not 1 <= value <= 64:
        raise ImproperlyConfigured(f"WEB_PROCESSES={value} must be from 1 to 64 (or 'auto')")
    return value


def envlist(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def envurl(name: str, default: str = "", schemes: tuple[str, ...] = ("http", "https")) -> str:
    raw = os.environ.get(name, default)
    if not raw:
        return raw
    parsed = urlparse(raw)
    if parsed.scheme not in schemes or not parsed.netloc:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a URL with scheme {'/'.join(schemes)}")
    return raw.rstrip("/")
