"""Secrets: generated once, shown once, stored as a hash, compared in constant time.

API keys, service keys, device tokens and app auth tokens are random 256-bit strings, so
a fast SHA-256 is enough to store them (no dictionary to attack); passwords of people use
Django's slow hashers instead. A short public prefix is stored beside the hash so a lookup
is one indexed query, and the final comparison is hmac.compare_digest.

Signing secrets (inbound `whsec_` secrets, webhook signing keys) must be usable to sign
and verify, so they cannot be hashed: they are *derived* from SECRET_KEY and a random
per-object salt with HMAC, and never stored. Rotating = a new salt.
"""

import base64
import hashlib
import hmac
import secrets

from django.conf import settings

PREFIX_LEN = 12


def new_token(kind: str) -> str:
    """A fresh secret like `sbk_3f9a...`; `kind` is a short readable tag."""
    return f"{kind}_{secrets.token_urlsafe(32)}"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_prefix(token: str) -> str:
    return token[:PREFIX_LEN]


def token_matches(token: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_token(token), stored_hash)


def new_salt() -> str:
    return secrets.token_hex(16)


def derive_whsec(purpose: str, object_id: object, salt: str) -> str:
    """A Standard Webhooks secret (`whsec_` + base64 of 32 bytes), reproducible only here."""
    raw = hmac.new(settings.SECRET_KEY.encode(), f"{purpose}:{object_id}:{salt}".encode(), hashlib.sha256).digest()
    return "whsec_" + base64.b64encode(raw).decode()
