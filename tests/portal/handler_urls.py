"""URLs for tests/portal/test_handler.py: views that say which thread and connection
served them, stream, or fail."""

import asyncio
import threading
import time

from django.db import connection
from django.http import JsonResponse, StreamingHttpResponse
from django.urls import path

STREAM_EVENTS: list[str] = []  # what the streaming view's generator went through


def whoami(request):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    time.sleep(float(request.GET.get("sleep", 0)))
    return JsonResponse({"thread": threading.current_thread().name, "connection": id(connection.connection)})


def stream(request):
    parts, pause = int(request.GET.get("parts", 3)), float(request.GET.get("pause", 0))

    def chunks():
        try:
            for n in range(parts):
                STREAM_EVENTS.append(f"part {n}")
                yield f"part {n};".encode()
        finally:
            STREAM_EVENTS.append("closed")

    async def async_chunks():  # sent part by part, and stopped when the client goes
        try:
            for n in range(parts):
                STREAM_EVENTS.append(f"part {n}")
                yield f"part {n};".encode()
                await asyncio.sleep(pause)
        finally:
            STREAM_EVENTS.append("closed")

    content = async_chunks() if request.GET.get("async") else chunks()
    return StreamingHttpResponse(content, content_type="text/plain")


def boom(request):
    raise RuntimeError("the view failed")


urlpatterns = [path("whoami", whoami), path("stream", stream), path("boom", boom)]
