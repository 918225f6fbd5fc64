"""Signed tree heads (checkpoints) of a verifiable log, with Ed25519. Pure: no I/O.

A checkpoint commits to the log's origin, size and Merkle root (`kit.merkle`) at a time. Its
body is a short text in the spirit of C2SP signed notes:

    <origin>\\n<size>\\n<base64 root>\\n<timestamp, ISO-8601 UTC with Z>\\n

and the signature covers `SIGNING_CONTEXT + body()`, so a checkpoint signature can never be
replayed as a signature over anything else the same key might sign.

Encodings: keys are raw 32-byte Ed25519 keys in urlsafe base64 without padding (as the vault's
keys); the root in the body and JSON, and the signature in JSON, are standard base64 with padding
(as in signed notes). Every decoder accepts either alphabet, with or without padding, and refuses
stray characters.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from kit.merkle import HASH_SIZE

SIGNING_CONTEXT = b"kit-audit-checkpoint-v1\n"
KEY_SIZE = 32
SIGNATURE_SIZE = 64

_RAW = serialization.Encoding.Raw


def _b64_key(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64_std(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b64decode(text: str) -> bytes:
    """Either base64 alphabet, padding optional; anything else is a ValueError."""
    if not isinstance(text, str):
        raise ValueError("not a base64 string")
    body = text.strip().rstrip("=").replace("+", "-").replace("/", "_")
    # The stdlib decoder silently skips stray characters; refuse them so garbage cannot pass.
    if not re.fullmatch(r"[A-Za-z0-9_-]*", body) or len(body) % 4 == 1:
        raise ValueError("not valid base64")
    try:
        return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except binascii.Error as e:
        raise ValueError("not valid base64") from e


def _raw_key(key_b64: str, what: str) -> bytes:
    raw = _b64decode(key_b64)
    if len(raw) != KEY_SIZE:
        raise ValueError(f"{what} must be {KEY_SIZE} raw bytes")
    return raw


def _format_timestamp(ts: datetime) -> str:
    return ts.astimezone(timezone.utc).replace(tzinfo=None).isoformat() + "Z"


@dataclass(frozen=True)
class Checkpoint:
    """The head of `origin`'s log at `size` leaves: Merkle root `root`, as of `timestamp`.

    origin is a non-empty printable line (no newline, so the body cannot be forged by shifting
    lines); timestamp must be timezone-aware and is normalised to UTC.
    """

    origin: str
    size: int
    root: bytes
    timestamp: datetime

    def __post_init__(self) -> None:
        if not isinstance(self.origin, str) or not self.origin or not self.origin.isprintable():
            raise ValueError("origin must be a non-empty printable string without newlines")
        if not isinstance(self.size, int) or isinstance(self.size, bool) or self.size < 0:
            raise ValueError(f"size must be a non-negative int, got {self.size!r}")
        if not isinstance(self.root, bytes) or len(self.root) != HASH_SIZE:
            raise ValueError(f"root must be {HASH_SIZE} bytes")
        if not isinstance(self.timestamp, datetime) or self.timestamp.utcoffset() is None:
            raise ValueError("timestamp must be a timezone-aware datetime")
        object.__setattr__(self, "timestamp", self.timestamp.astimezone(timezone.utc))

    def body(self) -> bytes:
        return (f"{self.origin}\n{self.size}\n{_b64_std(self.root)}\n"
                f"{_format_timestamp(self.timestamp)}\n").encode("utf-8")

    def to_json(self) -> dict[str, Any]:
        return {"origin": self.origin, "size": self.size, "root": _b64_std(self.root),
                "timestamp": _format_timestamp(self.timestamp)}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Checkpoint:
        """Inverse of to_json; ValueError for anything malformed."""
        try:
            timestamp = d["timestamp"]
            if not isinstance(timestamp, str) or not timestamp.endswith("Z"):
                raise ValueError("timestamp must be ISO-8601 UTC ending in Z")
            return cls(origin=d["origin"], size=d["size"], root=_b64decode(d["root"]),
                       timestamp=datetime.fromisoformat(timestamp))
        except (KeyError, TypeError) as e:
            raise ValueError(f"malformed checkpoint: {e!r}") from e


@dataclass(frozen=True)
class SignedCheckpoint:
    """A checkpoint with the Ed25519 signature of the key named by `key_id`."""

    checkpoint: Checkpoint
    key_id: str
    signature: bytes

    def to_json(self) -> dict[str, Any]:
        return {"checkpoint": self.checkpoint.to_json(), "key_id": self.key_id,
                "signature": _b64_std(self.signature)}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> SignedCheckpoint:
        """Inverse of to_json; ValueError for anything malformed (the signature is not checked)."""
        try:
            checkpoint = Checkpoint.from_json(d["checkpoint"])
            key = d["key_id"]
            if not isinstance(key, str):
                raise ValueError("key_id must be a string")
            return cls(checkpoint=checkpoint, key_id=key, signature=_b64decode(d["signature"]))
        except (KeyError, TypeError) as e:
            raise ValueError(f"malformed signed checkpoint: {e!r}") from e

    def verify(self, public_key_b64: str) -> bool:
        """True only if this key's id matches `key_id` and its signature covers the checkpoint.
        False, never an exception, for a malformed key or signature."""
        try:
            raw = _raw_key(public_key_b64, "public key")
            if self.key_id != _key_id_of_raw(raw) or len(self.signature) != SIGNATURE_SIZE:
                return False
            Ed25519PublicKey.from_public_bytes(raw).verify(self.signature, signed_message(self.checkpoint))
        except (ValueError, TypeError, InvalidSignature):
            return False
        return True


def signed_message(checkpoint: Checkpoint) -> bytes:
    """The exact bytes an Ed25519 checkpoint signature covers."""
    return SIGNING_CONTEXT + checkpoint.body()


def _key_id_of_raw(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()[:8]


def key_id(public_key_b64: str) -> str:
    """First 8 hex characters of SHA-256 of the raw public key: a hint naming the key, not a proof."""
    return _key_id_of_raw(_raw_key(public_key_b64, "public key"))


def generate_signing_key() -> tuple[str, str]:
    """A fresh Ed25519 key pair: (private, public), raw keys in urlsafe base64 without padding."""
    private = Ed25519PrivateKey.generate()
    return (_b64_key(private.private_bytes(_RAW, serialization.PrivateFormat.Raw, serialization.NoEncryption())),
            _b64_key(private.public_key().public_bytes(_RAW, serialization.PublicFormat.Raw)))


def _private_key(private_b64: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(_raw_key(private_b64, "private key"))


def public_key_of(private_b64: str) -> str:
    return _b64_key(_private_key(private_b64).public_key().public_bytes(_RAW, serialization.PublicFormat.Raw))


def sign(private_b64: str, checkpoint: Checkpoint) -> SignedCheckpoint:
    private = _private_key(private_b64)
    public = _b64_key(private.public_key().public_bytes(_RAW, serialization.PublicFormat.Raw))
    return SignedCheckpoint(checkpoint=checkpoint, key_id=key_id(public),
                            signature=private.sign(signed_message(checkpoint)))
