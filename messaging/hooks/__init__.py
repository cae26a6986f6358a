"""Endpoints that outside systems call, authenticated by a signature instead of a key."""
