import time

import pytest
from django.core.management.base import CommandError

from messaging.models import Contact, ContactIdentifier
from tests import factories
from tests.commands import run, run_json


def write_csv(tmp_path, text: str, name: str = "contacts.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def identifiers_of(contact: Contact) -> dict[str, str]:
    return dict(contact.identifiers.values_list("key", "value"))


@pytest.mark.django_db
class TestImportContacts:
    def test_it_imports_good_rows_and_reports_bad_ones_by_line(self, workspace, tmp_path):
        path = write_csv(
            tmp_path,
            "displayName,phonenumber,email,customerId,plan\n"  # line 1
            "Ann,(415) 555-2671,Ann@Example.COM,c-1,gold\n"  # line 2: good
            "Bob,12,,,\n"  # line 3: bad phone
            "Cy,,not-an-email,,\n"  # line 4: bad email
            "Dee,,,,silver\n"  # line 5: no identifier
            "Eve,+12025550143,,c-5\n"  # line 6: too few fields
            "\n"  # line 7: blank, skipped
            "Fay,,fay@example.com,,\n",  # line 8: good
        )
        out, err = run("importcontacts", "--workspace", str(workspace.id), path, "--json")
        import json

        report = json.loads(out)
        assert (report["created"], report["updated"], report["rejected"]) == (2, 0, 4)
        assert [e["line"] for e in report["errors"]] == [3, 4, 5, 6]
        reasons = {e["line"]: e["reason"] for e in report["errors"]}
        assert reasons[3].startswith("phonenumber: '12' is not")
        assert reasons[4].startswith("email: 'not-an-email' is not an email address")
        assert "no identifier" in reasons[5]
        assert reasons[6] == "has 4 fields, the header has 5"
        assert "line 3: phonenumber" in err and "line 6: has 4 fields" in err
        ann = Contact.objects.get(workspace=workspace, display_name="Ann")
        assert identifiers_of(ann) == {
            "phonenumber": "+14155552671",
            "emailaddress": "ann@example.com",
            "customerid": "c-1",
        }
        assert ann.attributes == {"plan": "gold"}
        assert identifiers_of(Contact.objects.get(display_name="Fay")) == {"emailaddress": "fay@example.com"}

    def test_an_existing_identifier_updates_that_contact(self, workspace, other_workspace, tmp_path):
        ann = factories.create_contact(workspace, phone="+14155552671", display_name="Old", attributes={"a": "1"})
        stranger = factories.create_contact(other_workspace, phone="+12025550143")
        path = write_csv(
            tmp_path,
            "name,phone,email,city\n"
            "Ann,+1 415 555 2671,ann@example.com,Paris\n"
            "Gus,202-555-0143,,Rome\n"
            "Ann B,,ann@example.com,\n",
        )
        report = run_json("importcontacts", "--workspace", str(workspace.id), path)
        assert report == {"created": 1, "updated": 2, "rejected": 0, "errors": []}
        ann.refresh_from_db()
        assert ann.display_name == "Ann B"
        assert ann.attributes == {"a": "1", "city": "Paris"}
        assert identifiers_of(ann) == {"phonenumber": "+14155552671", "emailaddress": "ann@example.com"}
        # The same number in another workspace is another workspace's contact.
        gus = Contact.objects.get(workspace=workspace, display_name="Gus")
        assert identifiers_of(gus) == {"phonenumber": "+12025550143"} and gus != stranger
        assert Contact.objects.filter(workspace=workspace).count() == 2

    def test_a_row_whose_identifiers_belong_to_two_contacts_is_rejected(self, workspace, tmp_path):
        factories.create_contact(workspace, phone="+14155552671")
        factories.create_contact(workspace, email="bob@example.com")
        path = write_csv(tmp_path, "phone,email\n+14155552671,bob@example.com\n")
        report = run_json("importcontacts", "--workspace", str(workspace.id), path)
        assert report["rejected"] == 1
        assert report["errors"][0]["line"] == 2
        assert "belong to different contacts" in report["errors"][0]["reason"]
        assert ContactIdentifier.objects.count() == 2

    def test_it_explains_a_file_it_cannot_use(self, workspace, tmp_path):
        ws = str(workspace.id)
        with pytest.raises(CommandError, match="^FILE.csv: .* does not exist"):
            run("importcontacts", "--workspace", ws, str(tmp_path / "missing.csv"))
        with pytest.raises(CommandError, match="^FILE.csv: the header has no identifier column"):
            run("importcontacts", "--workspace", ws, write_csv(tmp_path, "name,city\nAnn,Paris\n"))
        with pytest.raises(CommandError, match="^FILE.csv: the file is empty"):
            run("importcontacts", "--workspace", ws, write_csv(tmp_path, "", "empty.csv"))
        bad = tmp_path / "latin1.csv"
        bad.write_bytes("name,phone\nJosé,+14155552671\n".encode("latin-1"))
        with pytest.raises(CommandError, match="^FILE.csv: .* is not UTF-8"):
            run("importcontacts", "--workspace", ws, str(bad))
        with pytest.raises(CommandError, match="^--workspace: 'x' is not an id"):
            run("importcontacts", "--workspace", "x", str(bad))

    def test_readable_output_and_no_progress_bar_off_a_terminal(self, workspace, tmp_path):
        path = write_csv(tmp_path, "phone\n+14155552671\n")
        out, err = run("importcontacts", "--workspace", str(workspace.id), path)
        assert out.strip() == f"Imported {path}: 1 created, 0 updated, 0 rejected"
        assert err == ""

    def test_a_few_thousand_rows_import_quickly(self, workspace, tmp_path):
        rows = ["displayName,phonenumber,emailaddress,customerid,tier"]
        rows += [f"Person {i},+1202555{i:04d},p{i}@example.com,cust-{i},t{i % 3}" for i in range(3000)]
        rows.append("Broken,not-a-number,,,")
        path = write_csv(tmp_path, "\n".join(rows) + "\n")
        started = time.monotonic()
        report = run_json("importcontacts", "--workspace", str(workspace.id), path)
        elapsed = time.monotonic() - started
        assert (report["created"], report["updated"], report["rejected"]) == (3000, 0, 1)
        assert report["errors"] == [{"line": 3002, "reason": report["errors"][0]["reason"]}]
        assert Contact.objects.filter(workspace=workspace).count() == 3000
        assert ContactIdentifier.objects.filter(workspace=workspace).count() == 9000
        assert elapsed < 15, f"3000 rows took {elapsed:.1f}s"
        # Importing the same file again updates every contact and creates none.
        again = run_json("importcontacts", "--workspace", str(workspace.id), path)
        assert (again["created"], again["updated"], again["rejected"]) == (0, 3000, 1)
        assert Contact.objects.filter(workspace=workspace).count() == 3000
