"""Two sends to the same new receiver at the same moment end with one contact.

On PostgreSQL (the CI run with DATABASE_URL) the second transaction's lookup really misses
the first one's uncommitted identifier; its INSERT ... ON CONFLICT DO NOTHING waits for the
first to commit, yields, and the winner's contact is used (the loser's own, unused, is
removed). On SQLite the IMMEDIATE transactions serialise the two and the second simply
finds the first one's row. Either way: one contact, both messages on it.
"""

import threading
import time

from django.db import connection, transaction

from messaging.models import Contact, ContactIdentifier
from messaging.services.contacts import contacts_for
from tests import factories

NUMBER = "+12015550177"


def owner(workspace):
    """What the send path does inside its write transaction for a first-seen receiver."""
    return contacts_for(workspace, {("phonenumber", NUMBER)})[("phonenumber", NUMBER)]


def test_racing_first_uses_of_an_identifier_share_one_contact(transactional_db):
    workspace = factories.create_workspace("Race")
    barrier, got, errors = threading.Barrier(2), {}, []

    def first():
        try:
            with transaction.atomic():
                got["first"] = owner(workspace)
                barrier.wait(10)
                time.sleep(0.5)  # the second transaction runs into our uncommitted identifier
        except Exception as exc:  # surfaced by the test, not lost in the thread
            errors.append(exc)
        finally:
            connection.close()

    def second():
        try:
            barrier.wait(10)
            with transaction.atomic():
                got["second"] = owner(workspace)
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)

    assert errors == []
    assert got["first"] == got["second"]
    assert list(Contact.objects.filter(workspace=workspace).values_list("id", flat=True)) == [got["first"]]
    assert ContactIdentifier.objects.get(workspace=workspace, value=NUMBER).contact_id == got["first"]
