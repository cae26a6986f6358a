"""The portal dashboard at `/` (SPEC §3.7): read models, views and the small JSON/POST endpoints."""
