import hashlib
import uuid

import pytest
from django.core.management.base import CommandError

from messaging.models import AccessKey
from tests.commands import run, run_json


@pytest.mark.django_db
class TestCreateAccessKey:
    def test_it_prints_the_key_once_and_stores_only_its_hash(self, workspace):
        payload = run_json("createaccesskey", "--workspace", str(workspace.id), "--role", "viewer", "--name", "CI")
        assert set(payload) == {"id", "key"}
        key = AccessKey.objects.get(pk=payload["id"])
        assert (key.workspace, key.role, key.name) == (workspace, "viewer", "CI")
        assert key.token_hash == hashlib.sha256(payload["key"].encode()).hexdigest()
        assert payload["key"] not in {key.token_prefix, key.token_hash}
        assert AccessKey.find_by_token(payload["key"]) == key

    def test_the_key_authenticates_against_the_api(self, workspace, other_workspace, api):
        payload = run_json("createaccesskey", "--workspace", str(workspace.id), "--role", "viewer")
        client = api.key(payload["key"])
        assert client.get(f"/workspaces/{workspace.id}/channels").status_code == 200
        assert client.get(f"/workspaces/{other_workspace.id}/channels").status_code == 404

    def test_it_names_the_workspace_flag_for_an_unknown_workspace(self, db):
        missing = uuid.uuid4()
        with pytest.raises(CommandError, match=f"^--workspace: no workspace with id {missing}"):
            run("createaccesskey", "--workspace", str(missing))
        with pytest.raises(CommandError, match="^--workspace: 'nope' is not an id"):
            run("createaccesskey", "--workspace", "nope")

    def test_it_rejects_an_unknown_role(self, workspace):
        with pytest.raises(CommandError, match="^--role: 'owner' is not one of viewer, sender, admin"):
            run("createaccesskey", "--workspace", str(workspace.id), "--role", "owner")
        assert not AccessKey.objects.exists()
