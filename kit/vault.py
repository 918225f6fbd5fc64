"""Identity-vault cryptography: sealed identities in transit, per-youth data keys at rest.

Identity travels through NATS only sealed to the platform's X25519 key; at rest every youth's
identity is encrypted under their own data key, itself wrapped by a master key. Destroying the
data key (crypto-shredding) makes every copy of that youth's ciphertext unreadable at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from dataclasses import dataclass
from typing import Literal

import psycopg
from psycopg_pool import ConnectionPool
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from psycopg import sql
from stdnum import exceptions as stdnum_errors
from stdnum.ch import ssn
from stdnum.it import codicefiscale

SEAL_CONTEXT = b"kit-seal-v1"
NONCE = 12
_RAW = serialization.Encoding.Raw


def b64encode(data: bytes) -> str:
    """urlsafe base64 without padding: safe in URLs, JSON and env vars."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


_B64_BODY = re.compile(r"[A-Za-z0-9_-]*")


def b64decode(text: str) -> bytes:
    """Strict inverse of b64encode; also accepts padding and the standard alphabet (e.g. key tools)."""
    body = text.strip().rstrip("=").replace("+", "-").replace("/", "_")
    # The stdlib decoder silently skips stray characters; refuse them so garbage cannot pass.
    if not _B64_BODY.fullmatch(body) or len(body) % 4 == 1:
        raise ValueError("not valid base64")
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))


# --- sealing for partners -------------------------------------------------------------------

class SealError(Exception):
    """Why a sealed identity could not be opened; the message never echoes the input."""

    def __init__(self, code: Literal["malformed", "not_for_this_platform"], message: str):
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


def generate_ingest_keypair() -> tuple[str, str]:
    private = X25519PrivateKey.generate()
    return (b64encode(private.private_bytes(_RAW, serialization.PrivateFormat.Raw, serialization.NoEncryption())),
            b64encode(private.public_key().public_bytes(_RAW, serialization.PublicFormat.Raw)))


def _seal_key(shared: bytes, ephemeral_pub: bytes, recipient_pub: bytes) -> bytes:
    # Salting with both public keys binds the AES key to this exact exchange.
    return HKDF(hashes.SHA256(), 32, salt=ephemeral_pub + recipient_pub, info=SEAL_CONTEXT).derive(shared)


def seal(public_key_b64: str, plaintext: bytes) -> str:
    recipient_pub = b64decode(public_key_b64)
    recipient = X25519PublicKey.from_public_bytes(recipient_pub)
    ephemeral = X25519PrivateKey.generate()  # fresh per message: a leak exposes one identity only
    ephemeral_pub = ephemeral.public_key().public_bytes(_RAW, serialization.PublicFormat.Raw)
    key = _seal_key(ephemeral.exchange(recipient), ephemeral_pub, recipient_pub)
    nonce = os.urandom(NONCE)
    return "v1." + b64encode(ephemeral_pub + nonce + AESGCM(key).encrypt(nonce, plaintext, SEAL_CONTEXT))


def unseal(private_key_b64: str, sealed: str) -> bytes:
    private = X25519PrivateKey.from_private_bytes(b64decode(private_key_b64))
    if not isinstance(sealed, str) or not sealed.startswith("v1."):
        raise SealError("malformed", "sealed identity must be a 'v1.' token")
    try:
        raw = b64decode(sealed[3:])
    except ValueError:
        raise SealError("malformed", "sealed identity is not valid base64") from None
    if len(raw) < 32 + NONCE + 16:  # ephemeral key + nonce + GCM tag
        raise SealError("malformed", "sealed identity is too short")
    ephemeral_pub, nonce, ciphertext = raw[:32], raw[32:32 + NONCE], raw[32 + NONCE:]
    recipient_pub = private.public_key().public_bytes(_RAW, serialization.PublicFormat.Raw)
    try:
        shared = private.exchange(X25519PublicKey.from_public_bytes(ephemeral_pub))
    except ValueError:  # low-order point: all-zero shared secret
        raise SealError("malformed", "sealed identity has an invalid ephemeral key") from None
    try:
        return AESGCM(_seal_key(shared, ephemeral_pub, recipient_pub)).decrypt(nonce, ciphertext, SEAL_CONTEXT)
    except InvalidTag:
        raise SealError("not_for_this_platform",
                        "sealed identity does not open with this platform's key (wrong key or altered)") from None


# --- per-youth data keys ----------------------------------------------------------------------

def new_data_key() -> bytes:
    return os.urandom(32)


@lru_cache(maxsize=8)
def _master_aead(key: bytes) -> AESGCM:
    """One cipher object per master key (a list page opens a youth key per row); it keeps no
    state between calls."""
    return AESGCM(key)


@dataclass(frozen=True)
class Keyring:
    """Master keys by id; `current` wraps new keys, the others only unwrap (rotation)."""

    keys: dict[str, bytes]
    current: str

    def __post_init__(self):
        if self.current not in self.keys:
            raise ValueError(f"current master key id {self.current!r} is not in the keyring")
        for key_id, key in self.keys.items():
            if not 0 < len(key_id.encode()) < 256:
                raise ValueError("master key ids must be 1-255 bytes")
            if len(key) != 32:
                raise ValueError(f"master key {key_id!r} must be 32 bytes, got {len(key)}")

    def wrap(self, data_key: bytes) -> bytes:
        key_id = self.current.encode()
        header = bytes([len(key_id)]) + key_id  # says which master key unwraps it
        nonce = os.urandom(NONCE)
        return header + nonce + _master_aead(self.keys[self.current]).encrypt(nonce, data_key, header)

    def unwrap(self, wrapped: bytes) -> bytes:
        header_len = 1 + wrapped[0] if wrapped else 0
        key_id = wrapped[1:header_len].decode(errors="replace")
        if key_id not in self.keys:
            raise ValueError(f"wrapped key needs master key {key_id!r}, which is not in the keyring")
        nonce, ciphertext = wrapped[header_len:header_len + NONCE], wrapped[header_len + NONCE:]
        try:
            return _master_aead(self.keys[key_id]).decrypt(nonce, ciphertext, wrapped[:header_len])
        except (InvalidTag, ValueError):
            raise ValueError(f"wrapped key does not open with master key {key_id!r}") from None

    def rewrap(self, wrapped: bytes) -> bytes:
        return self.wrap(self.unwrap(wrapped))


def encrypt_for(data_key: bytes, youth_id: str, plaintext: bytes) -> str:
    nonce = os.urandom(NONCE)
    # AAD = youth id: a ciphertext copied onto another youth's record will not open.
    return "v1." + b64encode(nonce + AESGCM(data_key).encrypt(nonce, plaintext, youth_id.encode()))


def decrypt_for(data_key: bytes, youth_id: str, token: str) -> bytes:
    try:
        if not token.startswith("v1."):
            raise ValueError
        raw = b64decode(token[3:])
        return AESGCM(data_key).decrypt(raw[:NONCE], raw[NONCE:], youth_id.encode())
    except (InvalidTag, ValueError):
        raise ValueError("ciphertext does not open with this youth's key") from None


# --- national ids ---------------------------------------------------------------------------

_ID_RULES = {"IT-CF": (codicefiscale, "codice fiscale", "check character"),
             "CH-AHV": (ssn, "AHV number", "check digit")}


def validate_national_id(scheme: Literal["IT-CF", "CH-AHV"], value: str) -> str | tuple[str, str]:
    """The compact form, or (code, message); messages never contain the value (it is identity)."""
    module, name, check = _ID_RULES[scheme]
    try:
        compact = module.compact(value)
        # stdnum also takes 11-digit temporary codes; a person's codice fiscale has 16 characters.
        if scheme == "IT-CF" and len(compact) != 16:
            raise stdnum_errors.InvalidLength()
        return module.validate(compact)
    except stdnum_errors.InvalidChecksum:
        return "invalid_checksum", f"not a valid {name}: the {check} does not match"
    except stdnum_errors.InvalidLength:  # subclass of InvalidFormat: must come first
        return "invalid_length", f"not a valid {name}: wrong number of characters"
    except (stdnum_errors.InvalidFormat, stdnum_errors.InvalidComponent):
        return "invalid_format", f"not a valid {name}: unexpected characters or components"
    except stdnum_errors.ValidationError:
        return "invalid_format", f"not a valid {name}"


def national_id_pseudonym(key: bytes, scheme: str, normalised: str) -> str:
    # Keyed: a plain hash of a codice fiscale falls to enumerating every candidate.
    return hmac.new(key, f"{scheme}:{normalised}".encode(), hashlib.sha256).hexdigest()


# --- the per-youth key table ------------------------------------------------------------------

class KeyDestroyed(Exception):
    """The youth's data key was destroyed (erasure): their ciphertext is gone for good."""


class VaultKeys:
    """The per-youth data keys, wrapped by the master keys, in `<schema>.youth_keys`; connections
    from a small pool (the API reads keys on many threads)."""

    def __init__(self, db_url: str, keyring: Keyring, schema: str = "intake"):
        self.db_url, self.keyring = db_url, keyring
        if not schema.isidentifier():
            raise ValueError(f"not a schema name: {schema!r}")
        self.schema_name = schema
        self.table = sql.SQL("{}.youth_keys").format(sql.Identifier(schema))
        self.schema = sql.Identifier(schema)
        self._pool: ConnectionPool | None = None
        self._pool_lock = threading.Lock()

    def _connect(self) -> psycopg.Connection:
        return psycopg.connect(self.db_url, autocommit=False)

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection]:
        if self._pool is None:
            with self._pool_lock:
                if self._pool is None:  # each statement its own transaction, committed without waiting for the disk
                    self._pool = ConnectionPool(
                        self.db_url, min_size=1, max_size=4, open=True, check=ConnectionPool.check_connection,
                        kwargs={"autocommit": True, "options": "-c synchronous_commit=off"})
        with self._pool.connection() as conn:
            yield conn

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()

    def create_table(self) -> None:
        with self._connect() as conn:
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(self.schema))
            conn.execute(sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (youth_id uuid PRIMARY KEY, wrapped bytea,"
                " created_at timestamptz NOT NULL DEFAULT now(), destroyed_at timestamptz)").format(self.table))

    def ensure(self, youth_id: str) -> bytes:
        """The youth's key, created on first use (one statement). Its commit does not wait for the
        disk: whatever is encrypted with it is committed after it, and that commit's flush of the
        write-ahead log takes the key's commit record along (it comes earlier in the log)."""
        statement = sql.SQL(
            "WITH new AS (INSERT INTO {0} (youth_id, wrapped) VALUES (%(id)s, %(wrapped)s) ON CONFLICT DO NOTHING"
            "  RETURNING wrapped, destroyed_at)"
            " SELECT wrapped, destroyed_at FROM new"
            " UNION ALL SELECT wrapped, destroyed_at FROM {0} WHERE youth_id = %(id)s AND NOT EXISTS (SELECT FROM new)"
        ).format(self.table)
        for _attempt in range(3):
            with self._connection() as conn:  # one round trip: the statement commits by itself
                # DO NOTHING keeps the first writer's key when two callers race for one youth.
                row = conn.execute(statement, {"id": youth_id, "wrapped": self.keyring.wrap(new_data_key())}).fetchone()
            if row is not None:  # None: a racing writer's row was not yet visible to this statement
                break
        else:
            raise RuntimeError(f"the key of youth {youth_id} could not be read or created")
        wrapped, destroyed_at = row
        if destroyed_at is not None:
            raise KeyDestroyed(f"the data key of youth {youth_id} was destroyed")
        return self.keyring.unwrap(wrapped)

    def ensure_many(self, owners: list[str]) -> dict[str, bytes | None]:
        """`ensure` for many owners in one statement: owner -> key, or None if it was destroyed."""
        if not owners:
            return {}
        owners = list(dict.fromkeys(owners))
        statement = sql.SQL(
            "WITH new AS (INSERT INTO {0} (youth_id, wrapped) SELECT * FROM unnest(%(ids)s::uuid[], %(wrapped)s::bytea[])"
            "  ON CONFLICT DO NOTHING RETURNING youth_id, wrapped, destroyed_at)"
            " SELECT youth_id::text, wrapped, destroyed_at FROM new"
            " UNION ALL SELECT youth_id::text, wrapped, destroyed_at FROM {0}"
            "  WHERE youth_id = ANY(%(ids)s::uuid[]) AND youth_id NOT IN (SELECT youth_id FROM new)"
        ).format(self.table)
        with self._connection() as conn:
            rows = conn.execute(statement, {"ids": owners,
                                            "wrapped": [self.keyring.wrap(new_data_key()) for _ in owners]}).fetchall()
        return {owner: (self.keyring.unwrap(wrapped) if destroyed_at is None else None)
                for owner, wrapped, destroyed_at in rows}

    def get(self, youth_id: str) -> bytes | None:
        with self._connection() as conn:
            row = conn.execute(sql.SQL("SELECT wrapped FROM {} WHERE youth_id = %s AND wrapped IS NOT NULL")
                               .format(self.table), (youth_id,)).fetchone()
        return self.keyring.unwrap(row[0]) if row else None

    def wrapped_key_sql(self, youth_id: str) -> str:
        """A scalar subquery for a page's own statement: the wrapped key of the youth whose id is the
        SQL expression `youth_id` (NULL once destroyed), opened with `unwrap`. One round trip less
        than `get_many` where a page reads sealed data of many youths."""
        table = ".".join(f'"{part}"' for part in (self.schema_name, "youth_keys"))
        return f"(SELECT k.wrapped FROM {table} k WHERE k.youth_id = {youth_id})"

    def unwrap(self, wrapped: bytes | str | None) -> bytes | None:
        """The youth's key from `wrapped_key_sql`'s value: bytes, or the `\\x…` hex text a bytea
        becomes in a statement's JSON; None for none (destroyed)."""
        if isinstance(wrapped, str):
            wrapped = bytes.fromhex(wrapped.removeprefix("\\x"))
        return self.keyring.unwrap(wrapped) if wrapped else None

    def get_many(self, youth_ids: list[str]) -> dict[str, bytes]:
        """`get` for a page of youths in one statement: youth -> key (destroyed or absent ones left out)."""
        if not youth_ids:
            return {}
        with self._connection() as conn:
            rows = conn.execute(sql.SQL("SELECT youth_id::text, wrapped FROM {} WHERE youth_id = ANY(%s::uuid[])"
                                        " AND wrapped IS NOT NULL").format(self.table), (list(youth_ids),)).fetchall()
        return {youth: self.keyring.unwrap(wrapped) for youth, wrapped in rows}

    def destroy(self, youth_id: str) -> None:
        with self._connection() as conn, conn.transaction():
            conn.execute("SET LOCAL synchronous_commit = on")  # an erasure waits for the disk
            # Upsert a tombstone even when no key exists yet, so a late `ensure` cannot revive the youth.
            conn.execute(sql.SQL(
                "INSERT INTO {0} AS k (youth_id, wrapped, destroyed_at) VALUES (%s, NULL, now())"
                " ON CONFLICT (youth_id) DO UPDATE SET wrapped = NULL,"
                " destroyed_at = COALESCE(k.destroyed_at, now())").format(self.table), (youth_id,))

    def rotate(self) -> int:
        with self._connect() as conn:
            rows = conn.execute(sql.SQL("SELECT youth_id, wrapped FROM {} WHERE wrapped IS NOT NULL FOR UPDATE")
                                .format(self.table)).fetchall()
            with conn.cursor() as cur:
                cur.executemany(sql.SQL("UPDATE {} SET wrapped = %s WHERE youth_id = %s").format(self.table),
                                [(self.keyring.rewrap(wrapped), youth_id) for youth_id, wrapped in rows])
        return len(rows)
