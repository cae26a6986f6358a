"""Opaque keyset cursors: the page after (created_at, id) of the last row seen.

The token is base64 of a signed "<iso time>|<id>" so clients cannot forge positions into
other orderings. A page costs one index range scan however large the table is, and rows
inserted while a client walks the pages are neither repeated nor skipped (newest first:
new rows appear before the cursor, not inside the walk).
"""

import base64
from datetime import datetime

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from rest_framework import serializers

from messaging.errors import ValidationFailed

_signer = signing.Signer(salt="switchboard.pagetoken")


def encode_token(created_at: datetime, pk) -> str:
    raw = _signer.sign(f"{created_at.isoformat()}|{pk}")
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_token(token: str) -> tuple[datetime, str]:
    try:
        padded = token + "=" * (-len(token) % 4)
        raw = _signer.unsign(base64.urlsafe_b64decode(padded.encode()).decode())
        when, pk = raw.split("|", 1)
        return datetime.fromisoformat(when), pk
    except (ValueError, signing.BadSignature, UnicodeDecodeError):
        raise ValidationFailed.field("pageToken", "is not a token this API returned") from None


def parse_limit(raw: str | None) -> int:
    if raw in (None, ""):
        return settings.API_PAGE_LIMIT_DEFAULT
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise ValidationFailed.field("limit", "must be an integer") from None
    if value < 1:
        raise ValidationFailed.field("limit", "must be at least 1")
    return min(value, settings.API_PAGE_LIMIT_MAX)


def paginate(
    queryset: QuerySet, request, pk_field: str = "id", time_field: str = "created_at"
) -> tuple[list, str | None]:
    """One page of `queryset`, newest `time_field` first, and the next token (None on the
    last page). The pk breaks ties, so rows sharing a time are neither repeated nor skipped."""
    limit = parse_limit(request.query_params.get("limit"))
    token = request.query_params.get("pageToken")
    qs = queryset.order_by(f"-{time_field}", f"-{pk_field}")
    if token:
        at, pk = decode_token(token)
        try:
            # A token of another list (signed by us, keyed by another kind of id) is the
            # client's mistake, not a 500.
            pk = queryset.model._meta.get_field(pk_field).to_python(pk)
        except ValidationError:
            raise ValidationFailed.field("pageToken", "is not a token this list returned") from None
        # The redundant `<time>__lte` lets the planner seek the index to the cursor
        # instead of scanning the workspace's rows (SQLite does not derive it from the OR).
        qs = qs.filter(
            Q(**{f"{time_field}__lt": at}) | Q(**{time_field: at, f"{pk_field}__lt": pk}),
            **{f"{time_field}__lte": at},
        )
    rows = list(qs[: limit + 1])
    next_token = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_token = encode_token(getattr(last, time_field), getattr(last, pk_field))
    return rows, next_token


class PageSerializer(serializers.Serializer):
    """Documents the list envelope in the OpenAPI schema."""

    nextPageToken = serializers.CharField(required=False, help_text="Pass as pageToken for the next page; absent on the last")
