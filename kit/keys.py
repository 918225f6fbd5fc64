"""Vault secrets: read from the environment, or generated once into the data directory (mode 0600).

Same approach as `kit.config.jwt_secret`: production sets the env vars (from a secret store); a
single-machine install generates its own and keeps them next to its data. Error messages name
the setting, never the secret.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from kit.vault import Keyring, b64decode, b64encode, generate_ingest_keypair


def generated_once(path: Path, make: Callable[[], str]) -> str:
    """The file's content, creating it with `make()` first if missing."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write a private temp file, then link it into place: readers never see a half-written
        # key, and if two processes race, the first link wins and both read the same secret.
        tmp = path.with_name(f".{path.name}.{os.urandom(6).hex()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(make() + "\n")
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_text().strip()


class MissingKey(LookupError):
    """A command that only reads found no key where the platform keeps it: generating one there
    would give a key nothing was made with (and an auditor's check against it would fail)."""


def _source(data_dir: Path, env: Mapping[str, str] | None, var: str, filename: str,
            make: Callable[[], str], create: bool = True) -> tuple[str, str]:
    """(value, where it came from) — the env var wins over the file. `create=False`: a missing key
    is an error (read-only commands), not a new key."""
    env = os.environ if env is None else env
    if env.get(var):
        return env[var].strip(), var
    path = data_dir / filename
    if not create and not path.exists():
        raise MissingKey(f"no {filename} in {data_dir} and {var} is not set: is KIT_DATA_DIR the platform's data "
                         "directory? (the services create their keys when they first start: `kit up`)")
    return generated_once(path, make), str(path)


def _decode(text: str, where: str, what: str) -> bytes:
    try:
        return b64decode(text)
    except ValueError:
        raise ValueError(f"{where}: {what} is not valid base64") from None


def master_keys(data_dir: Path, env: Mapping[str, str] | None = None, create: bool = True) -> Keyring:
    """`id:base64key,...` (32-byte keys); the first entry is current, the rest unwrap old keys."""
    text, where = _source(data_dir, env, "KIT_MASTER_KEYS", "master-keys",
                          lambda: "mk1:" + b64encode(os.urandom(32)), create)
    keys: dict[str, bytes] = {}
    for entry in filter(None, (e.strip() for e in text.split(","))):
        key_id, sep, encoded = entry.partition(":")
        key_id = key_id.strip()
        if not sep or not key_id:
            raise ValueError(f"{where}: each entry must be 'id:base64key'")
        if key_id in keys:
            raise ValueError(f"{where}: master key id {key_id!r} appears twice")
        key = _decode(encoded, where, f"master key {key_id!r}")
        if len(key) != 32:
            raise ValueError(f"{where}: master key {key_id!r} must be 32 bytes, got {len(key)}")
        keys[key_id] = key
    if not keys:
        raise ValueError(f"{where}: no master keys")
    return Keyring(keys=keys, current=next(iter(keys)))


def pseudonym_key(data_dir: Path, env: Mapping[str, str] | None = None, create: bool = True) -> bytes:
    """The HMAC key for national-id pseudonyms; changing it orphans every existing pseudonym."""
    text, where = _source(data_dir, env, "KIT_PSEUDONYM_KEY", "pseudonym-key", lambda: b64encode(os.urandom(32)),
                          create)
    key = _decode(text, where, "pseudonym key")
    if len(key) < 32:
        raise ValueError(f"{where}: pseudonym key must be at least 32 bytes, got {len(key)}")
    return key


def ingest_private_key(data_dir: Path, env: Mapping[str, str] | None = None, create: bool = True) -> str:
    """The platform's X25519 private key (base64, raw 32 bytes) that opens sealed identities."""
    text, where = _source(data_dir, env, "KIT_INGEST_PRIVATE_KEY", "ingest-private-key",
                          lambda: generate_ingest_keypair()[0], create)
    if len(_decode(text, where, "ingest private key")) != 32:
        raise ValueError(f"{where}: ingest private key must be 32 raw bytes")
    return text


def ingest_public_key(private_b64: str) -> str:
    """The public half, published to partners so they can seal identities for the platform."""
    private = X25519PrivateKey.from_private_bytes(b64decode(private_b64))
    raw = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return b64encode(raw)


def audit_signing_key(data_dir: Path, env: Mapping[str, str] | None = None, create: bool = True) -> str:
    """The audit log's Ed25519 private key (base64, raw 32 bytes) that signs checkpoints."""
    from kit.checkpoints import generate_signing_key

    text, where = _source(data_dir, env, "KIT_AUDIT_SIGNING_KEY", "audit-signing-key",
                          lambda: generate_signing_key()[0], create)
    if len(_decode(text, where, "audit signing key")) != 32:
        raise ValueError(f"{where}: audit signing key must be 32 raw bytes")
    return text


def add_master_key(data_dir: Path) -> str:
    """Generate a new current master key in the data dir's file (older keys stay, to unwrap).
    Returns its id. With `KIT_MASTER_KEYS` set, rotate there instead (prepend a new entry)."""
    path = data_dir / "master-keys"
    current = master_keys(data_dir, {}, create=False)
    key_id = f"mk{len(current.keys) + 1}"
    while key_id in current.keys:
        key_id += "x"
    entries = [f"{key_id}:{b64encode(os.urandom(32))}", *(f"{k}:{b64encode(v)}" for k, v in current.keys.items())]
    tmp = path.with_name(f".{path.name}.{os.urandom(6).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(",".join(entries) + "\n")
    os.replace(tmp, path)
    return key_id
