"""Tests of the management commands (SPEC §6). `run()` calls a command in-process and
returns what it printed; `run_json()` also checks the --json contract: stdout holds
exactly one JSON object and nothing else."""

import json
from io import StringIO

from django.core.management import call_command


def run(name: str, *args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(name, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def run_json(name: str, *args: str) -> dict:
    out, _ = run(name, *args, "--json")
    lines = out.strip().splitlines()
    assert len(lines) == 1, f"expected one line of JSON on stdout, got {out!r}"
    payload = json.loads(lines[0])
    assert isinstance(payload, dict)
    return payload
