"""portal/env.py: WEB_PROCESSES, the one setting with a computed default."""

import pytest
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
