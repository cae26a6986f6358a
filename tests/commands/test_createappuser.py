import pytest
from django.core.management.base import CommandError

from messaging.models import AppUser
from tests import factories
from tests.commands import run, run_json


@pytest.mark.django_db
class TestCreateAppUser:
    def test_it_hashes_the_password_and_stores_the_msisdn_in_e164(self, db):
        workspace = factories.create_workspace("Berlin", default_region="DE")
        payload = run_json(
            "createappuser", "--workspace", str(workspace.id), "--username", "ann@example.com",
            "--password", "s3cret-pw", "--msisdn", "030 1234567",
        )  # fmt: skip
        assert list(payload) == ["id"]
        user = AppUser.objects.get(pk=payload["id"])
        assert (user.workspace, user.username, user.msisdn) == (workspace, "ann@example.com", "+49301234567")
        assert user.password != "s3cret-pw" and user.check_password("s3cret-pw")

    def test_it_rejects_a_bad_msisdn_and_duplicates(self, workspace):
        factories.create_app_user(workspace, "bob", msisdn="+14155552671")
        args = ["createappuser", "--workspace", str(workspace.id), "--password", "pw"]
        with pytest.raises(CommandError, match="^--msisdn: '12' is not"):
            run(*args, "--username", "ann", "--msisdn", "12")
        with pytest.raises(CommandError, match="^--username: the workspace already has an app user named 'bob'"):
            run(*args, "--username", "bob")
        with pytest.raises(CommandError, match=r"^--msisdn: another app user of the workspace has \+14155552671"):
            run(*args, "--username", "ann", "--msisdn", "(415) 555-2671")
        assert AppUser.objects.count() == 1
