import pytest
from django.core.management.base import CommandError

from messaging.models import Workspace
from tests.commands import run, run_json


@pytest.mark.django_db
class TestCreateWorkspace:
    def test_it_creates_a_workspace_and_prints_its_id(self):
        payload = run_json("createworkspace", "--name", "Initech", "--timezone", "Europe/Berlin", "--region", "de")
        assert list(payload) == ["id"]
        workspace = Workspace.objects.get(pk=payload["id"])
        assert (workspace.name, workspace.timezone, workspace.default_region) == ("Initech", "Europe/Berlin", "DE")

    def test_it_prints_readable_lines_without_json(self):
        out, _ = run("createworkspace", "--name", "Initech")
        workspace = Workspace.objects.get(name="Initech")
        assert f"id: {workspace.id}" in out
        assert (workspace.timezone, workspace.default_region) == ("UTC", "US")

    @pytest.mark.parametrize(
        "args, flag",
        [
            (["--timezone", "Mars/Olympus"], "--timezone"),
            (["--region", "XX"], "--region"),
            (["--region", "Germany"], "--region"),
        ],
    )
    def test_it_rejects_bad_values_naming_the_flag(self, args, flag):
        with pytest.raises(CommandError, match=f"^{flag}:"):
            run("createworkspace", "--name", "Initech", *args)
        assert not Workspace.objects.filter(name="Initech").exists()

    def test_it_rejects_a_duplicate_name(self, workspace):
        with pytest.raises(CommandError, match="^--name: a workspace named 'Acme' already exists"):
            run("createworkspace", "--name", "Acme")
