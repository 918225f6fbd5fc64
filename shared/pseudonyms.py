"""Pseudonyms several services derive the same way. Keyed, so an id cannot be traced back to the
value it stands for by trying candidates."""

from __future__ import annotations

import hashlib
import hmac
import uuid

NAMESPACE = uuid.UUID("8d2c6f0e-3b1a-4c5d-9e7f-1a2b3c4d5e6f")


def engagement_id(pseudonym_key: bytes, agency: str, handle: str) -> uuid.UUID:
    """One engagement (outreach before registration) per nickname within an agency; nicknames are
    case-insensitive. Intake keys its engagement histories by it; the caseload search finds one by it."""
    digest = hmac.new(pseudonym_key, f"engagement/{agency}/{handle.strip().casefold()}".encode(), hashlib.sha256)
    return uuid.uuid5(NAMESPACE, digest.hexdigest())
