"""Start-up objects are frozen out of the garbage collector's full passes (portal/heap.py),
in the web processes and in each django-q2 worker."""

import os
import subprocess
import sys

from django.conf import settings


def run_python(code: str) -> str:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_web_process_freezes_django_and_every_view_before_serving():
    """What `serve` runs for each web process (portal.daphne_web) does this before daphne starts."""
    out = run_python(
        "import gc, sys\n"
        "import portal.daphne_web\n"
        "portal.daphne_web.prepare()\n"
        "print(gc.get_freeze_count(), 'messaging.dialects.channels_api.messages_views' in sys.modules,"
        " len(gc.get_objects()))\n"
    )
    frozen, views_imported, still_tracked = out.split()
    assert int(frozen) > 50_000  # Django, DRF, the app: what a full collection no longer walks
    assert views_imported == "True"  # the URLconf was loaded first, not on the first request
    assert int(still_tracked) < int(frozen) // 10


def test_importing_the_asgi_application_elsewhere_freezes_nothing():
    """A test process or a benchmark importing portal.asgi keeps its ordinary collection."""
    out = run_python("import gc\nimport portal.asgi\nprint(gc.get_freeze_count())\n")
    assert int(out) == 0


def test_a_django_q_worker_freezes_its_start_up_objects_when_it_spawns():
    out = run_python(
        "import django, gc\n"
        "django.setup()\n"
        "from django_q.signals import post_spawn\n"
        "post_spawn.send(sender='django_q', proc_name='Worker-1')\n"
        "print(gc.get_freeze_count())\n"
    )
    assert int(out) > 20_000
