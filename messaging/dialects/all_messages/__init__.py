"""Seed 004: the legacy `/services/rest/user/allMessages` polling API (SPEC §3.4)."""
