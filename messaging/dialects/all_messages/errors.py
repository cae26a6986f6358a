"""The one module that maps problems to the seed's statuses (SPEC §3.4).

Every answer is HTTP 200, as in the legacy API, with `status` in the body: clients of
this API read the status, not the HTTP code. An error answers
`{"status": <code>, "message": "<what is wrong, naming the parameter>"}`.
"""

import logging

from messaging.errors import DomainError, Inactive, NotFound, TooManyAttempts, ValidationFailed
from messaging.services.all_messages import (
    AccountBlocked,
    AccountNotActivated,
    AuthenticationFailed,
    MissingParameter,
)

log = logging.getLogger(__name__)

OK = 0
MISSING_PARAMETER = 1
INVALID_VALUE = 2
AUTHENTICATION_FAILED = 3
ACCOUNT_BLOCKED = 4
USER_DOES_NOT_EXIST = 200
ACCOUNT_NOT_ACTIVATED = 220
INTERNAL = 9999

# Most specific first: MissingParameter is a ValidationFailed, the account errors are
# Forbidden/Inactive.
_STATUS_OF: list[tuple[type[DomainError], int]] = [
    (MissingParameter, MISSING_PARAMETER),
    (ValidationFailed, INVALID_VALUE),
    (AuthenticationFailed, AUTHENTICATION_FAILED),
    (AccountBlocked, ACCOUNT_BLOCKED),
    (TooManyAttempts, ACCOUNT_BLOCKED),  # wrong-password limit: blocked for a while
    (AccountNotActivated, ACCOUNT_NOT_ACTIVATED),
    (Inactive, ACCOUNT_NOT_ACTIVATED),
    (NotFound, USER_DOES_NOT_EXIST),
]

INTERNAL_MESSAGE = "internal error; nothing was changed, please retry"


def status_of(error: Exception) -> int:
    for kind, status in _STATUS_OF:
        if isinstance(error, kind):
            return status
    return INTERNAL


def error_body(error: Exception) -> dict:
    """The JSON body for any exception; unexpected ones are logged and become 9999."""
    status = status_of(error)
    if status == INTERNAL:
        log.exception("allMessages: internal error", exc_info=error)
        return {"status": INTERNAL, "message": INTERNAL_MESSAGE}
    return {"status": status, "message": getattr(error, "message", str(error))}
