"""Seed 003, the user message API: `POST /rest/user/login` and `/rest/user/message/...`
in JSON or XML (SPEC §3.3), a thin translation onto messaging.services.app_messages."""
