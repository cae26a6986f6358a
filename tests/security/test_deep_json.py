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
