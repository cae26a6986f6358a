"""The live dashboard websocket (/ws/live/) and the on-commit publishing that feeds it (SPEC §3.6)."""
