"""Checkpoints (signed tree heads) verify only under their own key and exactly as signed."""

import base64
import hashlib
import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from kit import checkpoints
from kit.checkpoints import Checkpoint, SignedCheckpoint
from kit.merkle import Tree, leaf_hash

ROOT = Tree([leaf_hash(b"event-%d" % i) for i in range(5)]).root()
WHEN = datetime(2025, 3, 14, 9, 26, 53, tzinfo=timezone.utc)
CHECKPOINT = Checkpoint(origin="kit.example/audit", size=5, root=ROOT, timestamp=WHEN)


@pytest.fixture(scope="module")
def keys():
    return checkpoints.generate_signing_key()


def test_given_a_checkpoint_when_its_body_is_rendered_then_it_is_the_signed_note_text():
    assert CHECKPOINT.body() == (b"kit.example/audit\n5\n" + base64.b64encode(ROOT)
                                 + b"\n2025-03-14T09:26:53Z\n")


def test_given_a_key_pair_when_a_checkpoint_is_signed_then_it_verifies_with_the_public_key(keys):
    private, public = keys
    assert checkpoints.public_key_of(private) == public
    signed = checkpoints.sign(private, CHECKPOINT)
    assert signed.checkpoint == CHECKPOINT
    assert signed.key_id == checkpoints.key_id(public)
    assert len(signed.key_id) == 8 and int(signed.key_id, 16) >= 0
    assert signed.verify(public)


def test_given_a_signature_when_checked_then_it_covers_the_domain_separated_body(keys):
    private, public = keys
    signed = checkpoints.sign(private, CHECKPOINT)
    raw_public = base64.urlsafe_b64decode(public + "=" * (-len(public) % 4))
    Ed25519PublicKey.from_public_bytes(raw_public).verify(
        signed.signature, b"kit-audit-checkpoint-v1\n" + CHECKPOINT.body())
    assert checkpoints.key_id(public) == hashlib.sha256(raw_public).hexdigest()[:8]


@pytest.mark.parametrize("change", [
    {"size": 6},
    {"size": 4},
    {"root": hashlib.sha256(b"another root").digest()},
    {"timestamp": WHEN + timedelta(seconds=1)},
    {"timestamp": WHEN + timedelta(microseconds=1)},
    {"origin": "kit.example/audit2"},
    {"origin": "other.example/audit"},
])
def test_given_a_signed_checkpoint_when_any_field_changes_then_verification_fails(keys, change):
    private, public = keys
    signed = checkpoints.sign(private, CHECKPOINT)
    assert not replace(signed, checkpoint=replace(CHECKPOINT, **change)).verify(public)


def test_given_a_signed_checkpoint_when_checked_with_another_key_then_it_fails(keys):
    private, public = keys
    other_private, other_public = checkpoints.generate_signing_key()
    signed = checkpoints.sign(private, CHECKPOINT)
    assert not signed.verify(other_public)
    # Even when the key id is made to match the other key, the signature does not.
    assert not replace(signed, key_id=checkpoints.key_id(other_public)).verify(other_public)
    # And a signature by the other key does not pass under this key's id.
    forged = checkpoints.sign(other_private, CHECKPOINT)
    assert not replace(forged, key_id=signed.key_id).verify(public)


def test_given_a_tampered_signature_or_malformed_key_when_verified_then_it_is_false_not_an_exception(keys):
    private, public = keys
    signed = checkpoints.sign(private, CHECKPOINT)
    flipped = bytes([signed.signature[0] ^ 1]) + signed.signature[1:]
    assert not replace(signed, signature=flipped).verify(public)
    assert not replace(signed, signature=signed.signature[:-1]).verify(public)
    assert not replace(signed, signature=b"").verify(public)
    for bad_key in ("", "not base64!", public[:-2], public + "AAAA", None, 42):
        assert signed.verify(bad_key) is False


def test_given_keys_with_padding_or_the_standard_alphabet_when_used_then_they_are_accepted(keys):
    private, public = keys
    assert "=" not in public and "=" not in private
    padded = public + "=" * (-len(public) % 4)
    standard = padded.replace("-", "+").replace("_", "/")
    signed = checkpoints.sign(private + "=" * (-len(private) % 4), CHECKPOINT)
    assert signed.verify(padded) and signed.verify(standard)
    assert checkpoints.key_id(padded) == checkpoints.key_id(public)


def test_given_malformed_keys_when_used_to_sign_or_name_then_value_error():
    for bad in ("", "AAAA", "not base64!", "A" * 44):
        with pytest.raises(ValueError):
            checkpoints.sign(bad, CHECKPOINT)
        with pytest.raises(ValueError):
            checkpoints.key_id(bad)
        with pytest.raises(ValueError):
            checkpoints.public_key_of(bad)


def test_given_a_signed_checkpoint_when_sent_as_json_then_it_round_trips_and_still_verifies(keys):
    private, public = keys
    signed = checkpoints.sign(private, CHECKPOINT)
    wire = json.loads(json.dumps(signed.to_json()))
    assert wire == {"checkpoint": {"origin": "kit.example/audit", "size": 5,
                                   "root": base64.b64encode(ROOT).decode(),
                                   "timestamp": "2025-03-14T09:26:53Z"},
                    "key_id": checkpoints.key_id(public),
                    "signature": base64.b64encode(signed.signature).decode()}
    again = SignedCheckpoint.from_json(wire)
    assert again == signed and again.verify(public)
    assert Checkpoint.from_json(CHECKPOINT.to_json()) == CHECKPOINT


def test_given_a_timestamp_in_another_zone_or_with_microseconds_when_round_tripped_then_it_is_the_same_instant():
    rome = timezone(timedelta(hours=1))
    checkpoint = replace(CHECKPOINT, timestamp=datetime(2025, 3, 14, 10, 26, 53, 120000, tzinfo=rome))
    assert checkpoint.timestamp.tzinfo == timezone.utc
    assert checkpoint.body().endswith(b"\n2025-03-14T09:26:53.120000Z\n")
    assert Checkpoint.from_json(checkpoint.to_json()) == checkpoint


@pytest.mark.parametrize("fields", [
    {"origin": ""},
    {"origin": "two\nlines"},
    {"size": -1},
    {"size": True},
    {"size": "5"},
    {"root": b"short"},
    {"root": "not bytes"},
    {"timestamp": datetime(2025, 3, 14, 9, 26, 53)},  # naive
])
def test_given_invalid_fields_when_a_checkpoint_is_made_then_value_error(fields):
    with pytest.raises(ValueError):
        replace(CHECKPOINT, **fields)


@pytest.mark.parametrize("mangle", [
    lambda d: {k: v for k, v in d.items() if k != "size"},
    lambda d: {**d, "root": "!!"},
    lambda d: {**d, "root": base64.b64encode(b"x" * 31).decode()},
    lambda d: {**d, "timestamp": "2025-03-14T09:26:53"},  # no zone
    lambda d: {**d, "timestamp": "yesterday"},
    lambda d: {**d, "timestamp": 1741944413},
    lambda d: {**d, "size": 5.0},
    lambda d: None,
])
def test_given_malformed_checkpoint_json_when_parsed_then_value_error(mangle):
    with pytest.raises(ValueError):
        Checkpoint.from_json(mangle(CHECKPOINT.to_json()))


def test_given_malformed_signed_checkpoint_json_when_parsed_then_value_error(keys):
    wire = checkpoints.sign(keys[0], CHECKPOINT).to_json()
    for bad in ({**wire, "signature": "@@"}, {k: v for k, v in wire.items() if k != "key_id"},
                {**wire, "key_id": 7}, {**wire, "checkpoint": "x"}):
        with pytest.raises(ValueError):
            SignedCheckpoint.from_json(bad)
