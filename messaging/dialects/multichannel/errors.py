"""The one module that maps problems to the seed's codes (SPEC §3.2).

Codes are strings, as the seed shows them. Every error answers
`{"response": [{"code": "70xx", "description": "..."}]}` with the HTTP status below.
"""

from dataclasses import dataclass

from messaging.errors import DomainError, Inactive, NotFound, ValidationFailed

QUEUED = ("1001", "Queued")

TITLES = {
    "7000": "Invalid JSON",
    "7001": "Authentication failed",
    "7002": "Service key missing",
    "7003": "Mandatory parameters missing",
    "7004": "Invalid parameters",
    "7006": "Internal error occurred",
    "7007": "Service inactive",
    "7009": "Max number of destinations",
}
HTTP_STATUS = {
    "7000": 400,
    "7001": 401,
    "7002": 401,
    "7003": 400,
    "7004": 400,
    "7006": 500,
    "7007": 403,
    "7009": 400,
}
# Not a seed code: the status endpoint's "no such transid for this service" (HTTP 404).
NOT_FOUND = "7004"


@dataclass
class MultichannelError(Exception):
    code: str
    description: str
    http_status: int = 0

    def __post_init__(self) -> None:
        super().__init__(f"{self.code} {self.description}")
        if not self.http_status:
            self.http_status = HTTP_STATUS[self.code]


def invalid_json(problem: str) -> MultichannelError:
    return MultichannelError("7000", f"Invalid JSON: {problem}")


def key_missing() -> MultichannelError:
    return MultichannelError("7002", "Service key missing: send the service key in the 'key' header")


def auth_failed() -> MultichannelError:
    return MultichannelError("7001", "Authentication failed: the service key is not valid")


def service_inactive(name: str) -> MultichannelError:
    return MultichannelError("7007", f"Service inactive: service '{name}' is inactive")


def missing(field: str, problem: str = "is mandatory") -> MultichannelError:
    return MultichannelError("7003", f"Mandatory parameter missing: {field} {problem}")


def invalid(field: str, problem: str) -> MultichannelError:
    return MultichannelError("7004", f"Invalid parameter: {field} {problem}")


def too_many(what: str, count: int, limit: int) -> MultichannelError:
    return MultichannelError("7009", f"Max number of destinations: {count} {what} given, at most {limit} per request")


def internal() -> MultichannelError:
    return MultichannelError("7006", "Internal error occurred; the request was not processed, please retry")


def not_found(transid: str) -> MultichannelError:
    return MultichannelError(NOT_FOUND, f"Invalid parameter: no message with transid '{transid}' for this service", 404)


# Problems the services word as "missing" (a required value absent) are the seed's 7003.
_MISSING_WORDS = ("is required", "is mandatory", "missing variable", "give ")


def from_domain(exc: DomainError) -> MultichannelError:
    """A service's DomainError as a 70xx error; fields keep the names the client sent."""
    if isinstance(exc, ValidationFailed) and exc.details:
        field, problems = next(iter(exc.details.items()))
        problem = problems[0] if problems else "is invalid"
        if problem.startswith(_MISSING_WORDS):
            return missing(field, problem)
        return invalid(field, problem)
    if isinstance(exc, NotFound | Inactive | ValidationFailed):
        return MultichannelError("7004", f"Invalid parameter: {exc.message}")
    return MultichannelError("7004", f"Invalid parameters: {exc.message}")
