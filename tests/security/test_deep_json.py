"""A deeply nested JSON body is bad input (400 in the dialect's format), never a 500 or
an "internal error" answer (security review: json raises RecursionError, not ValueError)."""

from tests import factories

DEEP = "[" * 50_000


def test_the_canonical_api_answers_a_deeply_nested_body_with_400(client, workspace, admin_key):
    channel = factories.create_channel(workspace, "sms", "sandbox", name="SMS")
    response = client.post(
        f"/workspaces/{workspace.id}/channels/{channel.id}/messages",
        DEEP,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"AccessKey {admin_key}",
    )
    assert response.status_code == 400
    assert response.json()["code"] == "InvalidJSON"


def test_the_user_message_api_answers_a_deeply_nested_body_with_code_2(client, workspace):
    _, key = factories.create_service(workspace)
    response = client.post("/rest/user/login", DEEP, content_type="application/json", HTTP_X_API_KEY=key)
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == "ERROR" and body["errorCode"] == 2
    assert "JSON" in body["errorMessage"]


def test_a_signed_inbound_hook_body_nested_too_deeply_is_400(client, workspace):
    from tests.webhooks.test_inbound_hook import post

    channel = factories.create_channel(workspace, "sms", "webhook", settings={"url": "https://example.com/out"})
    response = post(client, channel, DEEP)
    assert response.status_code == 400
    assert response.json()["code"] == "InvalidJSON"


def test_an_app_socket_report_nested_too_deeply_is_answered_with_code_2(workspace):
    from asgiref.sync import async_to_sync

    from tests.dialects.test_app_socket import connected
    from tests.dialects.user_api import Setup

    bob = Setup(workspace).api("bob@example.com")

    async def scenario():
        socket = await connected(bob.token)
        await socket.send_to(text_data="[" * 4000)  # within the 4 KB frame limit
        ack = await socket.receive_json_from(timeout=2)
        await socket.disconnect()
        return ack

    ack = async_to_sync(scenario)()
    assert (ack["status"], ack["errorCode"]) == ("ERROR", 2)
