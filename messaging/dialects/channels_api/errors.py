"""One JSON error shape for the whole canonical API, in the seed vendor's style:

    {"code": "InvalidPayload", "message": "...", "details": {"<field>": ["..."]}}
"""

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response

from messaging import errors

log = logging.getLogger(__name__)

DOMAIN_STATUS = {
    errors.ValidationFailed: (status.HTTP_422_UNPROCESSABLE_ENTITY, "InvalidPayload"),
    errors.NotFound: (status.HTTP_404_NOT_FOUND, "NotFound"),
    errors.Conflict: (status.HTTP_409_CONFLICT, "Conflict"),
    errors.Forbidden: (status.HTTP_403_FORBIDDEN, "Forbidden"),
    errors.Inactive: (status.HTTP_409_CONFLICT, "ChannelInactive"),
}

DRF_CODES = {
    exceptions.ParseError: "InvalidJSON",
    exceptions.AuthenticationFailed: "Unauthorized",
    exceptions.NotAuthenticated: "Unauthorized",
    exceptions.PermissionDenied: "Forbidden",
    exceptions.NotFound: "NotFound",
    exceptions.MethodNotAllowed: "MethodNotAllowed",
    exceptions.NotAcceptable: "NotAcceptable",
    exceptions.UnsupportedMediaType: "UnsupportedMediaType",
    exceptions.Throttled: "TooManyRequests",
    exceptions.ValidationError: "InvalidPayload",
}


def _flatten(detail, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail → {"dotted.field": ["message", ...]}."""
    out: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            if isinstance(key, int) or (isinstance(key, str) and key.isdigit()):
                # DRF reports list positions (ListField, DictField children) as {0: [...]}.
                path = f"{prefix}[{key}]"
            else:
                name = "" if key == "non_field_errors" else str(key)
                path = f"{prefix}.{name}" if prefix and name else (prefix or name)
            for k, v in _flatten(value, path).items():
                out.setdefault(k, []).extend(v)
    elif isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            out.setdefault(prefix or "body", []).extend(str(item) for item in detail)
        else:
            for index, item in enumerate(detail):
                for k, v in _flatten(item, f"{prefix}[{index}]").items():
                    if v:
                        out.setdefault(k, []).extend(v)
    else:
        out.setdefault(prefix or "body", []).append(str(detail))
    return out


def error_body(code: str, message: str, details: dict | None = None) -> dict:
    body = {"code": code, "message": message}
    if details:
        body["details"] = details
    return body


def exception_handler(exc, context):
    if isinstance(exc, errors.DomainError):
        http_status, code = next(
            (v for k, v in DOMAIN_STATUS.items() if isinstance(exc, k)), (status.HTTP_422_UNPROCESSABLE_ENTITY, exc.code)
        )
        return Response(error_body(code, exc.message, exc.details), status=http_status)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if not isinstance(exc, exceptions.APIException):
        return None  # a real fault: Django logs it and answers 500 without a stack trace (DEBUG off)

    code = next((v for k, v in DRF_CODES.items() if isinstance(exc, k)), "Error")
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))
    if isinstance(exc, exceptions.ValidationError):
        details = _flatten(exc.detail)
        fields = ", ".join(sorted(details))
        resp = Response(
            error_body(code, f"The request is not valid: check {fields}.", details),
            status=status.HTTP_422_UNPROCESSABLE_ENTITY,
            headers=headers,
        )
    else:
        http_status = exc.status_code
        if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
            http_status = status.HTTP_401_UNAUTHORIZED
            headers.setdefault("WWW-Authenticate", "AccessKey")
        resp = Response(error_body(code, str(exc.detail)), status=http_status, headers=headers)
    return resp
