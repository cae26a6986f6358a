"""/ws/live/: who may connect, and that each socket hears its own workspaces only, on commit."""

import json
from contextlib import asynccontextmanager

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.db import transaction
from django.test import Client
from django.utils import timezone

from messaging.models import Status
from messaging.routing import websocket_application
from messaging.services import status as st
from messaging.services.receive import receive_message
from messaging.signals import EndpointState, publish_endpoint_states
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)  # on_commit must really fire

ORIGIN = (b"origin", b"http://testserver")
QUIET = 0.5  # seconds receive_nothing waits for a frame that must not come (> relay tick)


def text_body(text: str) -> dict:
    return {"type": "text", "text": {"text": text}}


def run(coro_fn):
    return async_to_sync(coro_fn)()


@asynccontextmanager
async def live(headers, path="/ws/live/"):
    comm = WebsocketCommunicator(websocket_application, path, headers=headers)
    connected, _ = await comm.connect()
    assert connected, "the live socket was refused"
    try:
        yield comm
    finally:
        await comm.disconnect()


async def refused(headers, path="/ws/live/") -> bool:
    comm = WebsocketCommunicator(websocket_application, path, headers=headers)
    connected, _ = await comm.connect()
    await comm.disconnect()
    return not connected


def key_headers(plaintext: str) -> list:
    return [ORIGIN, (b"authorization", f"AccessKey {plaintext}".encode())]


def session_headers(user) -> list:
    client = Client()
    client.force_login(user)
    return [ORIGIN, (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())]


@pytest.fixture
def two_workspaces():
    """(message in Acme, message in Globex) — both accepted, ready to move."""
    acme, globex = factories.create_workspace("Acme"), factories.create_workspace("Globex")
    ours = factories.create_message(factories.create_channel(acme, name="SMS"))
    theirs = factories.create_message(factories.create_channel(globex, name="SMS"))
    return ours, theirs


@database_sync_to_async
def move(message, status, reason=""):
    assert st.transition(message, status, reason=reason)


def test_it_pushes_status_changes_of_the_key_workspace_only(two_workspaces):
    ours, theirs = two_workspaces
    _, key = factories.create_access_key(ours.workspace, "viewer")

    async def scenario():
        async with live(key_headers(key)) as comm:
            await move(theirs, Status.PROCESSING)
            await move(ours, Status.SENDING_FAILED, reason="no route")
            frame = await comm.receive_json_from(timeout=2)
            assert frame == {
                "type": "message.status",
                "workspaceId": str(ours.workspace_id),
                "messageId": str(ours.id),
                "channelId": str(ours.channel_id),
                "status": "sending_failed",
                "reason": "no route",
                "at": frame["at"],
            }
            assert frame["at"].endswith("Z")
            assert await comm.receive_nothing(timeout=QUIET)

    run(scenario)


def test_a_session_user_hears_their_memberships_only(two_workspaces):
    ours, theirs = two_workspaces
    headers = session_headers(factories.create_user("ann", workspace=ours.workspace, role="viewer"))

    async def scenario():
        async with live(headers) as comm:
            await move(theirs, Status.PROCESSING)
            assert await comm.receive_nothing(timeout=QUIET)
            await move(ours, Status.PROCESSING)
            frame = await comm.receive_json_from(timeout=2)
            assert (frame["messageId"], frame["status"]) == (str(ours.id), "processing")

    run(scenario)


def test_a_superuser_hears_every_workspace(two_workspaces):
    ours, theirs = two_workspaces
    headers = session_headers(factories.create_user("root", is_superuser=True, is_staff=True))

    async def scenario():
        async with live(headers) as comm:
            await move(theirs, Status.PROCESSING)
            await move(ours, Status.PROCESSING)
            got = {(await comm.receive_json_from(timeout=2))["messageId"] for _ in range(2)}
            assert got == {str(ours.id), str(theirs.id)}

    run(scenario)


def test_the_workspace_filter_narrows_a_superuser_socket(two_workspaces):
    ours, theirs = two_workspaces
    headers = session_headers(factories.create_user("root", is_superuser=True, is_staff=True))

    async def scenario():
        async with live(headers, path=f"/ws/live/?workspace={ours.workspace_id}") as comm:
            await move(theirs, Status.PROCESSING)
            await move(ours, Status.PROCESSING)
            assert (await comm.receive_json_from(timeout=2))["messageId"] == str(ours.id)
            assert await comm.receive_nothing(timeout=QUIET)

    run(scenario)


def test_it_refuses_strangers(two_workspaces):
    ours, theirs = two_workspaces
    _, key = factories.create_access_key(ours.workspace, "admin")
    stranger = session_headers(factories.create_user("bob"))  # no membership: connects, hears nothing
    inactive = factories.create_access_key(ours.workspace, "admin")[0]
    inactive.active = False
    inactive.save()

    async def scenario():
        assert await refused([ORIGIN])  # no session, no key
        assert await refused(key_headers("sbk_not-a-real-key-0000000000"))
        assert await refused([ORIGIN, (b"authorization", f"Bearer {key}".encode())])
        assert await refused([ORIGIN, (b"cookie", b"sessionid=forged")])
        assert await refused(key_headers(key), path=f"/ws/live/?workspace={theirs.workspace_id}")
        assert await refused(key_headers(key), path="/ws/live/?workspace=not-a-uuid")
        async with live(stranger) as comm:
            await move(ours, Status.PROCESSING)
            assert await comm.receive_nothing(timeout=QUIET)

    run(scenario)


def test_a_foreign_origin_is_refused_whatever_the_credentials(two_workspaces):
    ours, _ = two_workspaces
    _, key = factories.create_access_key(ours.workspace, "admin")
    evil = (b"origin", b"https://evil.example")
    cookie = session_headers(factories.create_user("ann", workspace=ours.workspace, role="admin"))[1]

    async def scenario():
        assert await refused([evil, (b"authorization", f"AccessKey {key}".encode())])
        assert await refused([evil, cookie])

    run(scenario)


def test_a_script_with_an_access_key_needs_no_origin(two_workspaces):
    """Scripts are not browsers: with an AccessKey header a missing Origin is fine (SPEC §3.6:
    only a *present* Origin must match)."""
    ours, _ = two_workspaces
    _, key = factories.create_access_key(ours.workspace, "viewer")

    async def scenario():
        async with live([(b"authorization", f"AccessKey {key}".encode())]) as comm:
            await move(ours, Status.PROCESSING)
            frame = await comm.receive_json_from(timeout=2)
            assert (frame["messageId"], frame["status"]) == (str(ours.id), "processing")
        async with live(
            [(b"origin", b"http://127.0.0.1:8000"), (b"authorization", f"AccessKey {key}".encode())]
        ):
            pass

    run(scenario)


def test_a_session_cookie_without_origin_is_refused(two_workspaces):
    """A cookie rides along with any cross-site request, so it only counts with a matching
    Origin; a key-less handshake without Origin is refused before it is authenticated."""
    ours, _ = two_workspaces
    cookie = session_headers(factories.create_user("ann", workspace=ours.workspace, role="admin"))[1]

    async def scenario():
        assert await refused([cookie])
        assert await refused([cookie, (b"authorization", b"Bearer whatever")])
        async with live([ORIGIN, cookie]):  # the same cookie from the right page is fine
            pass

    run(scenario)


def test_a_bad_key_without_origin_is_still_refused(two_workspaces):
    ours, _ = two_workspaces
    cookie = session_headers(factories.create_user("ann", workspace=ours.workspace, role="admin"))[1]

    async def scenario():
        assert await refused([(b"authorization", b"AccessKey sbk_not-a-real-key-0000000000")])
        # The key decides, never the cookie that came along: no falling back to the session.
        assert await refused([cookie, (b"authorization", b"AccessKey sbk_not-a-real-key-0000000000")])

    run(scenario)


def test_a_rolled_back_change_sends_nothing(two_workspaces):
    ours, _ = two_workspaces
    _, key = factories.create_access_key(ours.workspace, "viewer")

    @database_sync_to_async
    def move_then_fail():
        with pytest.raises(RuntimeError), transaction.atomic():
            st.transition(ours, Status.PROCESSING)
            raise RuntimeError("boom")

    @database_sync_to_async
    def status_in_db():
        ours.refresh_from_db()
        return ours.status

    async def scenario():
        async with live(key_headers(key)) as comm:
            await move_then_fail()
            assert await comm.receive_nothing(timeout=QUIET)
            assert await status_in_db() == Status.ACCEPTED

    run(scenario)


def test_it_pushes_incoming_messages_and_device_state(two_workspaces):
    ours, theirs = two_workspaces
    _, key = factories.create_access_key(ours.workspace, "viewer")
    engine = factories.create_channel(ours.workspace, "sms", "engine", name="Phones")
    phone, _ = factories.create_endpoint(engine, name="Pixel")

    @database_sync_to_async
    def receive_two():
        mine = receive_message(ours.channel, "phonenumber", "+15550001111", text_body("Open on Sunday?"))
        receive_message(theirs.channel, "phonenumber", "+15550002222", text_body("not for Acme"))
        return mine

    @database_sync_to_async
    def phone_connects():
        with transaction.atomic():
            publish_endpoint_states(
                [
                    EndpointState(
                        ours.workspace_id, engine.id, phone.id, "CONNECTED", "ON", "OFF", timezone.now()
                    )
                ]
            )

    async def scenario():
        async with live(key_headers(key)) as comm:
            mine = await receive_two()
            frame = await comm.receive_json_from(timeout=2)
            assert frame == {
                "type": "message.incoming",
                "workspaceId": str(ours.workspace_id),
                "messageId": str(mine.id),
                "channelId": str(ours.channel_id),
                "sender": {
                    "identifierKey": "phonenumber",
                    "identifierValue": "+15550001111",
                    "contactId": str(mine.contact_id),
                },
                "text": "Open on Sunday?",
                "at": frame["at"],
            }
            assert await comm.receive_nothing(timeout=QUIET)
            await phone_connects()
            frame = await comm.receive_json_from(timeout=2)
            assert {k: v for k, v in frame.items() if k != "at"} == {
                "type": "endpoint.state",
                "workspaceId": str(ours.workspace_id),
                "channelId": str(engine.id),
                "endpointId": str(phone.id),
                "connectionState": "CONNECTED",
                "sendPermission": "ON",
                "readPermission": "OFF",
            }

    run(scenario)


def test_a_big_commit_arrives_whole_in_few_channel_layer_events(two_workspaces, monkeypatch):
    ours, _ = two_workspaces
    _, key = factories.create_access_key(ours.workspace, "viewer")
    messages = [factories.create_message(ours.channel) for _ in range(1200)]
    layer = get_channel_layer()
    group_sends = []
    real = layer.group_send

    async def counting_group_send(group, message):
        group_sends.append(len(message["frames"]))
        await real(group, message)

    monkeypatch.setattr(layer, "group_send", counting_group_send)

    @database_sync_to_async
    def move_all():
        return len(st.transition_many([m.id for m in messages], Status.PROCESSING))

    async def scenario():
        async with live(key_headers(key)) as comm:
            assert await move_all() == 1200
            got = [json.loads(await comm.receive_from(timeout=2)) for _ in range(1200)]
            assert {f["messageId"] for f in got} == {str(m.id) for m in messages}
            assert await comm.receive_nothing(timeout=QUIET)
        assert group_sends == [500, 500, 200]  # 1,200 frames → 3 events of ≤ 500

    run(scenario)


@database_sync_to_async
def revoke(key_id):
    from messaging.models import AccessKey

    AccessKey.objects.filter(pk=key_id).update(active=False)


async def opened(headers) -> WebsocketCommunicator:
    """A connected /ws/live/ socket that the test expects the server to close."""
    comm = WebsocketCommunicator(websocket_application, "/ws/live/", headers=headers)
    assert (await comm.connect())[0], "the live socket was refused"
    return comm


async def closed_with(comm, timeout: float = 3) -> int:
    """The close code the server sent (skipping any frames before it), once the consumer ended."""
    while True:
        out = await comm.receive_output(timeout=timeout)
        if out["type"] == "websocket.close":
            await comm.wait()
            return out.get("code")


def test_a_revoked_key_stops_the_stream_without_waiting_for_a_reconnect(two_workspaces, settings):
    settings.LIVE_RECHECK_SECONDS = 0.2
    ours, _ = two_workspaces
    record, key = factories.create_access_key(ours.workspace, "viewer")

    async def scenario():
        comm = await opened(key_headers(key))
        await move(ours, Status.PROCESSING)
        assert (await comm.receive_json_from(timeout=2))["status"] == "processing"  # still allowed: it streams
        assert await comm.receive_nothing(timeout=0.5)  # and is not closed while the key is valid
        await revoke(record.pk)
        assert await closed_with(comm) == 4401

    run(scenario)


def test_a_signed_out_session_or_removed_membership_closes_the_socket(two_workspaces, settings):
    from django.contrib.sessions.models import Session

    from messaging.models import Membership

    settings.LIVE_RECHECK_SECONDS = 0.2
    ours, _ = two_workspaces
    ann = factories.create_user("ann", workspace=ours.workspace, role="viewer")
    bob = factories.create_user("bob", workspace=ours.workspace, role="viewer")
    ann_headers, bob_headers = session_headers(ann), session_headers(bob)

    async def scenario():
        ann_socket, bob_socket = await opened(ann_headers), await opened(bob_headers)
        sessions = await database_sync_to_async(list)(Session.objects.all())
        ann_session = next(s for s in sessions if s.get_decoded().get("_auth_user_id") == str(ann.pk))
        await database_sync_to_async(ann_session.delete)()  # ann signs out elsewhere
        assert await closed_with(ann_socket) == 4401
        await database_sync_to_async(Membership.objects.filter(user=bob).delete)()  # bob leaves the workspace
        assert await closed_with(bob_socket) == 4403

    run(scenario)


def test_a_password_change_ends_the_session_socket_as_django_ends_the_session(two_workspaces, settings):
    settings.LIVE_RECHECK_SECONDS = 0.2
    ours, _ = two_workspaces
    ann = factories.create_user("ann", workspace=ours.workspace, role="viewer")
    headers = session_headers(ann)

    @database_sync_to_async
    def change_password():
        ann.set_password("a-new-password-123")
        ann.save()

    async def scenario():
        comm = await opened(headers)
        assert await comm.receive_nothing(timeout=0.5)  # a valid session streams on
        await change_password()
        assert await closed_with(comm) == 4401

    run(scenario)


def test_a_re_check_that_keeps_failing_closes_the_socket_instead_of_streaming_unchecked(two_workspaces, settings):
    from unittest import mock

    from django.db import OperationalError

    from messaging.live import consumer

    settings.LIVE_RECHECK_SECONDS = 0.1
    ours, _ = two_workspaces
    _, key = factories.create_access_key(ours.workspace, "viewer")

    async def scenario():
        comm = await opened(key_headers(key))
        with mock.patch.object(consumer, "access_lost", side_effect=OperationalError("database is away")):
            assert await closed_with(comm) == 1011

    run(scenario)
