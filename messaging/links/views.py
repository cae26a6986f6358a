"""`/l/<code>` — redirect a short link to its target and log the click (SPEC §3.7).

Unknown code → 404; expired, or its smart link switched off → 410 with a small page.
HEAD is answered like GET but logs no click: link-preview bots of messaging apps probe
links that way, and a probe is not a person clicking.
"""

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_safe

from messaging.models import LinkClick, ShortLink

MAX_USER_AGENT = 500


@require_safe
def follow(request: HttpRequest, code: str) -> HttpResponse:
    link = ShortLink.objects.select_related("smartlink").filter(code=code[:32]).first()
    if link is None:
        raise Http404("No such link.")
    now = timezone.now()
    if link.expires_at <= now or (link.smartlink is not None and not link.smartlink.active):
        response = render(request, "links/expired.html", {"expired_at": link.expires_at}, status=410)
    else:
        if request.method == "GET":
            LinkClick.objects.create(
                short_link=link,
                at=now,
                user_agent=request.headers.get("User-Agent", "")[:MAX_USER_AGENT],
                ip=request.META.get("REMOTE_ADDR") or None,
            )
        response = HttpResponseRedirect(link.url)
    # Every visit must reach us to be counted, and the target learns nothing of the code.
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    return response
