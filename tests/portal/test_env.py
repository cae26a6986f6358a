"""portal/env.py: WEB_PROCESSES, the one setting with a computed default."""

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from portal import env
from portal.env import web_processes


def test_auto_is_one_process_per_core_up_to_four():
    assert web_processes("auto", cores=1) == 1
    assert web_processes("AUTO", cores=2) == 2
    assert web_processes("", cores=2) == 2
    assert web_processes("auto", cores=32) == 4


def test_auto_counts_the_cores_this_process_may_use():
    assert 1 <= web_processes("auto") <= 4


def test_a_number_is_taken_as_given():
    assert web_processes("3", cores=1) == 3
    assert web_processes("1", cores=8) == 1


@pytest.mark.parametrize(
    ("raw", "problem"),
    [("two", "WEB_PROCESSES='two' is not a number or 'auto'"), ("0", "must be from 1 to 64"), ("65", "must be from 1 to 64")],
)
def test_a_bad_value_stops_start_up_naming_the_setting(raw, problem):
    with pytest.raises(ImproperlyConfigured, match=problem.replace("(", r"\(")):
        web_processes(raw)


def test_without_cpu_affinity_all_cores_count(monkeypatch):
    """macOS has no os.sched_getaffinity: the default must not break start-up there."""
    monkeypatch.delattr(env.os, "sched_getaffinity")
    monkeypatch.setattr(env.os, "cpu_count", lambda: 3)
    assert web_processes("auto") == 3


def fresh_settings(**env: str) -> dict:
    """WEB_PROCESSES and WEB_THREADS as a new process with `env` would read them."""
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "WEB_PROCESSES", "WEB_THREADS")}
    code = (
        "import django; django.setup(); from django.conf import settings as s; import json;"
        "print(json.dumps([s.WEB_PROCESSES, s.WEB_THREADS]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env={**base, "DJANGO_SETTINGS_MODULE": "portal.settings", **env},
        cwd=settings.BASE_DIR, capture_output=True, text=True, check=True,
    )
    return dict(zip(["processes", "threads"], json.loads(out.stdout.strip().splitlines()[-1]), strict=True))


def test_web_threads_is_one_on_sqlite_with_several_web_processes_else_two():
    assert fresh_settings(WEB_PROCESSES="2") == {"processes": 2, "threads": 1}
    assert fresh_settings(WEB_PROCESSES="1") == {"processes": 1, "threads": 2}
    postgres = "postgres://nobody@127.0.0.1:5432/unused"  # read, never connected to
    assert fresh_settings(WEB_PROCESSES="2", DATABASE_URL=postgres) == {"processes": 2, "threads": 2}
    assert fresh_settings(WEB_PROCESSES="2", WEB_THREADS="3") == {"processes": 2, "threads": 3}
