"""App users' passwords, with a limit on wrong guesses (seed 003 login, seed 004 polling).

Every password attempt for a username of a workspace counts in a fixed window
(APP_USER_PASSWORD_FAILURES, "10/hour" by default, counted in the database so every web
process shares it) before the password is looked at, and a right password gives its
count back: only wrong guesses stay counted, and requests racing each other cannot get
past the limit, since each takes its place in the count first. Once the window is full,
every attempt is refused unchecked until the window ends: a guesser gets at most that many
tries per window and learns nothing from the answers meanwhile. The 003 dialect answers
code 98 (HTTP 429), the 004 dialect status 4 (account blocked), each saying how long.

The count is per (workspace, username), for names that exist and names that do not
alike, so being refused tells a 003 caller nothing about whether the user exists.

The price is the usual one of account lockouts: someone who knows a username can keep
its owner out by guessing wrong. The lock lasts one window at most, and the owner's auth
tokens keep working.
"""

from collections.abc import Callable

from django.conf import settings
from django.contrib.auth.hashers import make_password

from messaging.errors import TooManyAttempts
from messaging.models import AppUser
from messaging.services import ratelimit


def _key(workspace_id, username: str) -> str:
    return f"password:{workspace_id}:{username}"


def _attempt(workspace_id, username: str, check: Callable[[], bool]) -> bool:
    rate = settings.APP_USER_PASSWORD_FAILURES
    key = _key(workspace_id, username)
    allowed, wait = ratelimit.hit(key, rate)
    if not allowed:
        raise TooManyAttempts(f"too many wrong passwords for '{username}' (limit {rate}); try again in {wait} s", wait)
    if check():
        ratelimit.give_back(key, rate)
        return True
    return False


def verify(user: AppUser, password: str) -> bool:
    """user.check_password(password), within the wrong-password limit (TooManyAttempts beyond it)."""
    return _attempt(user.workspace_id, user.username, lambda: user.check_password(password))


def refuse_unknown(workspace_id, username: str, password: str) -> bool:
    """False, as verify() answers a wrong password, for a username the workspace does not
    have: counted, limited and hashed the same way, so neither the answer nor its timing
    tells whether the user exists."""

    def check() -> bool:
        make_password(password)
        return False

    return _attempt(workspace_id, username, check)
