"""The seal as docs/contracts.md specifies it, implemented here from the text alone (cryptography
only), gives the documented test vector byte for byte; the platform opens it."""

import base64
import json
import re
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

DOC = Path(__file__).resolve().parents[2] / "docs" / "contracts.md"
RAW = serialization.Encoding.Raw


def vector() -> dict:
    block = re.search(r"## Sealing an identity.*?```json\n(.*?)```", DOC.read_text(), re.S).group(1)
    return json.loads(block)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def seal_as_documented(platform_public: bytes, ephemeral: X25519PrivateKey, nonce: bytes, plaintext: bytes) -> str:
    e = ephemeral.public_key().public_bytes(RAW, serialization.PublicFormat.Raw)
    z = ephemeral.exchange(X25519PublicKey.from_public_bytes(platform_public))
    k = HKDF(hashes.SHA256(), 32, salt=e + platform_public, info=b"kit-seal-v1").derive(z)
    return "v1." + b64url(e + nonce + AESGCM(k).encrypt(nonce, plaintext, b"kit-seal-v1"))


def test_the_documented_steps_give_the_documented_token():
    v = vector()
    platform = X25519PrivateKey.from_private_bytes(unb64url(v["platform_private_key"]))
    platform_public = platform.public_key().public_bytes(RAW, serialization.PublicFormat.Raw)
    assert b64url(platform_public) == v["platform_public_key"]
    ephemeral = X25519PrivateKey.from_private_bytes(unb64url(v["ephemeral_private_key"]))
    assert b64url(ephemeral.public_key().public_bytes(RAW, serialization.PublicFormat.Raw)) == v["ephemeral_public_key"]
    assert ephemeral.exchange(platform.public_key()).hex() == v["shared_secret_hex"]
    sealed = seal_as_documented(platform_public, ephemeral, bytes.fromhex(v["nonce_hex"]), v["plaintext"].encode())
    assert sealed == v["sealed"]


def test_the_platform_opens_the_documented_token_and_its_plaintext_fits_the_identity_schema():
    from events.intake import Identity
    from kit.vault import unseal

    v = vector()
    opened = unseal(v["platform_private_key"], v["sealed"])
    assert opened == v["plaintext"].encode()
    assert Identity.model_validate_json(opened).family_name == "Rossi"
    schema = json.loads((DOC.parents[1] / "contracts" / "identity.schema.json").read_text())
    assert set(json.loads(opened)) <= set(schema["properties"]) and schema["additionalProperties"] is False
