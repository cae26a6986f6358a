"""Request limits of the user message API (code 98): per API key and per app user.

Fixed windows counted in the database (messaging.services.ratelimit), so every web process
shares one count. Rates are settings like "120/min" (USER_API_RATE per app user,
USER_API_KEY_RATE per API key; see portal/settings.py). Wrong passwords have their own,
much lower limit (messaging.services.passwords).
"""

from django.conf import settings

from messaging.dialects.user_messages.errors import TOO_MANY_REQUESTS, UserApiError
from messaging.services.ratelimit import hit


def check(key: str, rate: str, who: str) -> None:
    allowed, retry_after = hit(key, rate)
    if not allowed:
        raise UserApiError(
            TOO_MANY_REQUESTS,
            f"Too many requests for this {who} (limit {rate}); try again in {retry_after} s.",
            retry_after=retry_after,
        )


def check_api_key(service_id) -> None:
    check(f"u3:key:{service_id}", settings.USER_API_KEY_RATE, "API key")


def check_app_user(user_id) -> None:
    check(f"u3:user:{user_id}", settings.USER_API_RATE, "user")


def check_login(service_id, username: str) -> None:
    """Login attempts per username count like a user's requests: no password guessing
    at the API key's (much higher) rate."""
    check(f"u3:login:{service_id}:{username}", settings.USER_API_RATE, "user")
