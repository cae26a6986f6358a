"""Canonical API: /workspaces/{w}/contacts (SPEC §3.1)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from messaging.models import Contact, ContactIdentifier
from tests import factories

pytestmark = pytest.mark.django_db


def url(workspace, pk=None) -> str:
    base = f"/workspaces/{workspace.id}/contacts"
    return f"{base}/{pk}" if pk else base


def test_it_creates_a_contact_with_normalised_identifiers(api, workspace, admin_key):
    body = {
        "displayName": "Ann",
        "identifiers": [
            {"key": "phonenumber", "value": "(201) 555-0123"},
            {"key": "emailaddress", "value": "Ann@Example.COM"},
        ],
        "attributes": {"plan": "gold"},
        "optOuts": ["sms", "sms"],
        "globalHoldout": True,
    }
    resp = api.key(admin_key).post(url(workspace), body, format="json")
    assert resp.status_code == 201, resp.content
    got = resp.json()
    assert got["displayName"] == "Ann"
    assert got["identifiers"] == [
        {"key": "phonenumber", "value": "+12015550123"},
        {"key": "emailaddress", "value": "ann@example.com"},
    ]
    assert got["attributes"] == {"plan": "gold"}
    assert got["optOuts"] == ["sms"]
    assert got["globalHoldout"] is True
    contact = Contact.objects.get(pk=got["id"])
    assert contact.workspace == workspace
    assert set(contact.identifiers.values_list("value", flat=True)) == {"+12015550123", "ann@example.com"}


def test_a_contact_needs_no_fields(api, workspace, admin_key):
    resp = api.key(admin_key).post(url(workspace), {}, format="json")
    assert resp.status_code == 201
    assert resp.json()["identifiers"] == []
    assert resp.json()["optOuts"] == []


def test_it_lists_and_filters_by_identifier(api, workspace, admin_key):
    start = timezone.now()
    ann = factories.create_contact(workspace, phone="+12015550123", created_at=start)
    factories.create_contact(workspace, email="bob@example.com", created_at=start + timedelta(seconds=1))
    factories.create_contact(factories.create_workspace(), phone="+12015550123")
    client = api.key(admin_key)
    assert len(client.get(url(workspace)).json()["results"]) == 2
    for query in ("+12015550123", "201-555-0123", " 12015550123"):  # an unencoded '+' arrives as a space
        found = client.get(url(workspace), {"identifier": query}).json()["results"]
        assert [c["id"] for c in found] == [str(ann.id)], query
    assert client.get(url(workspace), {"identifier": "+12025550143"}).json()["results"] == []
    by_key = client.get(
        url(workspace), {"identifier": "+12015550123", "identifierKey": "emailaddress"}
    ).json()
    assert by_key["results"] == []


def test_patch_replaces_identifiers_and_keeps_other_fields(api, workspace, admin_key):
    contact = factories.create_contact(
        workspace, phone="+12015550123", display_name="Ann", attributes={"a": 1}
    )
    resp = api.key(admin_key).patch(
        url(workspace, contact.id), {"identifiers": [{"key": "customerid", "value": " c-42 "}]}, format="json"
    )
    assert resp.status_code == 200, resp.content
    assert resp.json()["identifiers"] == [{"key": "customerid", "value": "c-42"}]
    assert resp.json()["displayName"] == "Ann"
    assert resp.json()["attributes"] == {"a": 1}
    assert list(ContactIdentifier.objects.filter(contact=contact).values_list("key", "value")) == [
        ("customerid", "c-42")
    ]


def test_patch_without_identifiers_keeps_them(api, workspace, admin_key):
    contact = factories.create_contact(workspace, phone="+12015550123")
    resp = api.key(admin_key).patch(url(workspace, contact.id), {"optOuts": ["email"]}, format="json")
    assert resp.status_code == 200
    assert resp.json()["identifiers"] == [{"key": "phonenumber", "value": "+12015550123"}]
    contact.refresh_from_db()
    assert contact.opt_outs == ["email"]


def test_an_identifier_of_another_contact_is_a_409_naming_it(api, workspace, admin_key):
    factories.create_contact(workspace, phone="+12015550123")
    bob = factories.create_contact(workspace, email="bob@example.com")
    client = api.key(admin_key)
    body = {
        "identifiers": [
            {"key": "emailaddress", "value": "new@example.com"},
            {"key": "phonenumber", "value": "+1 201 555 0123"},
        ]
    }
    resp = client.post(url(workspace), body, format="json")
    assert resp.status_code == 409
    assert "identifiers[1].value" in resp.json()["details"]
    resp = client.patch(url(workspace, bob.id), body, format="json")
    assert resp.status_code == 409
    assert Contact.objects.filter(workspace=workspace).count() == 2
    assert list(bob.identifiers.values_list("value", flat=True)) == ["bob@example.com"]


def test_a_contact_may_keep_its_own_identifier_on_patch(api, workspace, admin_key):
    ann = factories.create_contact(workspace, phone="+12015550123")
    body = {
        "identifiers": [{"key": "phonenumber", "value": "+12015550123"}, {"key": "userid", "value": "ann"}]
    }
    resp = api.key(admin_key).patch(url(workspace, ann.id), body, format="json")
    assert resp.status_code == 200, resp.content
    assert len(resp.json()["identifiers"]) == 2


@pytest.mark.parametrize(
    "body, field",
    [
        ({"identifiers": [{"key": "phonenumber", "value": "12"}]}, "identifiers[0].value"),
        ({"identifiers": [{"key": "emailaddress", "value": "not-an-email"}]}, "identifiers[0].value"),
        ({"identifiers": [{"key": "fax", "value": "1"}]}, "identifiers[0].key"),
        ({"identifiers": [{"key": "userid", "value": "a", "kind": "x"}]}, "identifiers[0].kind"),
        (
            {"identifiers": [{"key": "userid", "value": "a"}, {"key": "userid", "value": "a"}]},
            "identifiers[1].value",
        ),
        ({"optOuts": ["pager"]}, "optOuts[0]"),
        ({"attributes": "gold"}, "attributes"),
        ({"globalHoldout": "maybe"}, "globalHoldout"),
        ({"displayname": "typo"}, "displayname"),
    ],
)
def test_it_rejects_bad_input_naming_the_field(api, workspace, admin_key, body, field):
    resp = api.key(admin_key).post(url(workspace), body, format="json")
    assert resp.status_code == 422, resp.content
    assert field in resp.json()["details"], resp.json()
    assert Contact.objects.count() == 0


def test_it_deletes_a_contact_and_its_identifiers(api, workspace, admin_key, sms_channel):
    contact = factories.create_contact(workspace, phone="+12015550123")
    message = factories.create_message(sms_channel, contact)
    resp = api.key(admin_key).delete(url(workspace, contact.id))
    assert resp.status_code == 204
    assert not Contact.objects.filter(pk=contact.pk).exists()
    assert not ContactIdentifier.objects.filter(value="+12015550123").exists()
    message.refresh_from_db()  # the message history stays
    assert message.contact is None


def test_another_workspaces_contact_is_not_found(api, workspace, other_workspace, admin_key):
    foreign = factories.create_contact(other_workspace, display_name="Theirs")
    client = api.key(admin_key)
    assert client.get(url(workspace, foreign.id)).status_code == 404
    assert client.patch(url(workspace, foreign.id), {"displayName": "Mine"}, format="json").status_code == 404
    foreign.refresh_from_db()
    assert foreign.display_name == "Theirs"


def test_a_list_page_costs_the_same_queries_however_many_contacts(api, workspace, admin_key):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = api.key(admin_key)

    def queries_for_list() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url(workspace)).status_code == 200
        return len(ctx)

    factories.create_contact(workspace, phone="+12015550123", email="a@example.com")
    queries_for_list()  # the key's first use also records last_used_at
    few = queries_for_list()
    for i in range(6):
        factories.create_contact(workspace, email=f"p{i}@example.com")
    assert queries_for_list() == few
