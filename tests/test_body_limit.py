def test_it_refuses_an_oversized_body_with_413(api, admin_key, workspace, sms_channel, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2048
    api.key(admin_key)
    body = {"receiver": {"contacts": [{"identifierKey": "phonenumber", "identifierValue": "+15551234567"}]},
            "body": {"type": "text", "text": {"text": "x" * 5000}}}
    resp = api.post(f"/workspaces/{workspace.id}/channels/{sms_channel.id}/messages", body, format="json")
    assert resp.status_code == 413
    assert resp.json()["code"] == "PayloadTooLarge"
    assert sms_channel.messages.count() == 0
