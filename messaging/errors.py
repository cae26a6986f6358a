"""Domain errors: values with a code, raised by services, mapped to each dialect's own
codes at the edge (messaging/dialects/<dialect>/errors.py)."""


class DomainError(Exception):
    code = "DomainError"

    def __init__(self, message: str, details: dict[str, list[str]] | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or {}


class ValidationFailed(DomainError):
    """Bad input; `details` maps each field (dotted path) to its problems."""

    code = "InvalidPayload"

    @classmethod
    def field(cls, field: str, problem: str) -> "ValidationFailed":
        return cls(f"{field}: {problem}", {field: [problem]})


class NotFound(DomainError):
    code = "NotFound"


class Conflict(DomainError):
    code = "Conflict"


class Forbidden(DomainError):
    code = "Forbidden"


class TooManyAttempts(DomainError):
    """A limit on attempts is used up for now; `retry_after` seconds until it frees up."""

    code = "TooManyAttempts"

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class Inactive(DomainError):
    """The service or channel exists but is switched off."""

    code = "Inactive"
