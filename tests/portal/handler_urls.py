"""URLs for tests/portal/test_handler.py: a view that says which thread and connection served it."""

import threading
import time

from django.db import connection
from django.http import JsonResponse
from django.urls import path


def whoami(request):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    time.sleep(float(request.GET.get("sleep", 0)))
    return JsonResponse({"thread": threading.current_thread().name, "connection": id(connection.connection)})


urlpatterns = [path("whoami", whoami)]
