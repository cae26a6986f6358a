"""Request-size guard for the canonical API.

DRF's parsers read the body stream directly, so Django's DATA_UPLOAD_MAX_MEMORY_SIZE
check (which runs on request.body) does not stop a huge JSON body there. This answers
413 in the canonical error shape before anything reads such a body. The media upload
receiver has its own, larger, signed limit and is not covered here; the compatibility
dialects answer in their own formats and check sizes themselves.
"""

from django.conf import settings
from django.http import JsonResponse

GUARDED_PREFIXES = ("/workspaces/", "/hooks/")


class BodySizeLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith(GUARDED_PREFIXES):
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            if length > limit:
                return JsonResponse(
                    {"code": "PayloadTooLarge", "message": f"The request body is larger than {limit} bytes."},
                    status=413,
                )
        return self.get_response(request)
