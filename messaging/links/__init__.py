"""`/l/<code>`: short-link redirects with click logging (SPEC §3.7)."""
