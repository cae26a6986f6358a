"""App users' passwords, with a limit on wrong guesses (seed 003 login, seed 004 polling).

Each wrong password of an app user counts in a fixed window (APP_USER_PASSWORD_FAILURES,
"10/hour" by default, counted in the database so every web process shares it). Once the
window is full the account refuses every password, right or wrong, without checking it,
until the window ends: a guesser gets at most that many tries per window, and learns
nothing from the answers meanwhile. The 003 dialect answers code 98 (HTTP 429), the 004
dialect status 4 (account blocked), each saying how many seconds are left.

The price is the usual one of account lockouts: someone who knows a username can keep
its owner out by guessing wrong. The lock lasts one window at most and the owner's other
sessions (auth tokens) keep working.
"""

from django.conf import settings

from messaging.errors import TooManyAttempts
from messaging.models import AppUser
from messaging.services import ratelimit


def _key(user: AppUser) -> str:
    return f"password:appuser:{user.pk}"


def verify(user: AppUser, password: str) -> bool:
    """user.check_password(password), within the wrong-password limit (TooManyAttempts beyond it)."""
    rate = settings.APP_USER_PASSWORD_FAILURES
    wait = ratelimit.exhausted_for(_key(user), rate)
    if wait:
        raise TooManyAttempts(
            f"too many wrong passwords for '{user.username}' (limit {rate}); try again in {wait} s", wait
        )
    if user.check_password(password):
        return True
    ratelimit.hit(_key(user), rate)
    return False
