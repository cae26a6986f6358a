from messaging.models import MessageEvent, Status
from messaging.services import status as st
from tests import factories


def test_it_moves_forward_and_appends_an_event(sms_channel):
    msg = factories.create_message(sms_channel)
    assert st.transition(msg, Status.PROCESSING, actor="test")
    assert st.transition(msg, Status.SENT)
    assert st.transition(msg, Status.DELIVERED)
    msg.refresh_from_db()
    assert msg.status == Status.DELIVERED
    assert list(MessageEvent.objects.filter(message=msg).order_by("id").values_list("status", flat=True)) == [
        "processing",
        "sent",
        "delivered",
    ]


def test_it_refuses_to_move_backwards(sms_channel):
    msg = factories.create_message(sms_channel)
    st.transition(msg, Status.DELIVERED)
    assert not st.transition(msg, Status.SENT)
    assert not st.transition(msg, Status.SENDING_FAILED)
    msg.refresh_from_db()
    assert msg.status == Status.DELIVERED
    assert MessageEvent.objects.filter(message=msg).count() == 1


def test_transition_many_moves_only_eligible_rows(sms_channel):
    a = factories.create_message(sms_channel)
    b = factories.create_message(sms_channel, status=Status.CANCELED)
    moved = st.transition_many([a.id, b.id], Status.PROCESSING)
    assert moved == [a.id]


def test_transition_many_sets_plain_values_and_says_so_for_an_expression(sms_channel):
    import pytest
    from django.db.models import F

    msg = factories.create_message(sms_channel)
    with pytest.raises(TypeError, match="attempts: transition_many sets plain values"):
        st.transition_many([msg.id], Status.PROCESSING, attempts=F("attempts") + 1)
    assert st.transition_many([msg.id], Status.PROCESSING, increments={"attempts": 2}, claimed_by="w") == [msg.id]
    msg.refresh_from_db()
    assert (msg.status, msg.attempts, msg.claimed_by) == (Status.PROCESSING, 2, "w")
