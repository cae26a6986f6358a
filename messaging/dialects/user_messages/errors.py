"""The ONE place seed-003 codes come from: domain errors → (code, HTTP status).

    2   a required parameter was not given / is invalid     400
    97  the access to the api was denied                    403
    98  too many requests in a short time                   429
    99  the service is currently not available              503
    100 the auth token is invalid                           401
    105 the given device id is invalid                      400
    113 the user must have an msisdn for this operation     400
    600 the api key is invalid                              401

Another user's (or an unknown) conversation or message id is 97, never "not found": a
caller cannot tell whether someone else's id exists. Locked messages are 97 as well.
"""

import logging

from django.db import InterfaceError, OperationalError

from messaging.errors import (
    Conflict,
    DomainError,
    Forbidden,
    Inactive,
    NotFound,
    TooManyAttempts,
    ValidationFailed,
)
from messaging.services.app_messages import InvalidToken, MsisdnRequired, UnknownDevice

log = logging.getLogger(__name__)

MISSING_PARAMETER = 2
DENIED = 97
TOO_MANY_REQUESTS = 98
UNAVAILABLE = 99
INVALID_TOKEN = 100
INVALID_DEVICE = 105
MSISDN_REQUIRED = 113
INVALID_API_KEY = 600

HTTP_STATUS = {
    MISSING_PARAMETER: 400,
    DENIED: 403,
    TOO_MANY_REQUESTS: 429,
    UNAVAILABLE: 503,
    INVALID_TOKEN: 401,
    INVALID_DEVICE: 400,
    MSISDN_REQUIRED: 400,
    INVALID_API_KEY: 401,
}

# First match wins, so subclasses come before their bases.
DOMAIN_CODES: list[tuple[type[Exception], int]] = [
    (TooManyAttempts, TOO_MANY_REQUESTS),
    (InvalidToken, INVALID_TOKEN),
    (UnknownDevice, INVALID_DEVICE),
    (MsisdnRequired, MSISDN_REQUIRED),
    (ValidationFailed, MISSING_PARAMETER),
    (Forbidden, DENIED),
    (NotFound, DENIED),
    (Conflict, DENIED),
    (Inactive, DENIED),
]


class UserApiError(Exception):
    """An answer with a seed code, raised by the dialect itself (api key, throttle, body)."""

    def __init__(self, code: int, message: str, retry_after: int | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after


def missing(field: str) -> UserApiError:
    return UserApiError(MISSING_PARAMETER, f"The required parameter '{field}' was not given.")


def invalid(field: str, problem: str) -> UserApiError:
    return UserApiError(MISSING_PARAMETER, f"{field}: {problem}")


def to_api_error(exc: Exception) -> UserApiError:
    """Any exception as the code a client sees; nothing becomes a 500."""
    if isinstance(exc, UserApiError):
        return exc
    if isinstance(exc, DomainError):
        for kind, code in DOMAIN_CODES:
            if isinstance(exc, kind):
                return UserApiError(code, exc.message, retry_after=getattr(exc, "retry_after", None))
        return UserApiError(DENIED, exc.message)
    if isinstance(exc, OperationalError | InterfaceError):
        log.error("user API: database unavailable: %s", exc)
        return UserApiError(UNAVAILABLE, "The service is currently not available; try again shortly.")
    log.exception("user API: unexpected error", exc_info=exc)
    return UserApiError(UNAVAILABLE, "The service is currently not available (internal error).")
