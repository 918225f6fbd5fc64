"""The per-youth key table on a real PostgreSQL: one key per youth, crypto-shredding, rotation."""

import os
import uuid
from collections.abc import Iterator

import pytest

from kit.vault import KeyDestroyed, Keyring, VaultKeys, decrypt_for, encrypt_for

pytestmark = pytest.mark.integration
IDENTITY = b'{"given_name": "Mario"}'


@pytest.fixture
def keyring() -> Keyring:
    return Keyring(keys={"mk1": os.urandom(32)}, current="mk1")


@pytest.fixture
def vault(database_url, keyring) -> Iterator[VaultKeys]:
    keys = VaultKeys(database_url, keyring, schema="intake")
    keys.create_table()
    keys.create_table()  # idempotent
    yield keys
    keys.close()


def test_ensuring_a_youth_key_twice_returns_the_same_key(vault):
    youth = str(uuid.uuid4())
    assert vault.get(youth) is None
    key = vault.ensure(youth)
    assert len(key) == 32
    assert vault.ensure(youth) == key == vault.get(youth)
    assert vault.ensure(str(uuid.uuid4())) != key


def test_a_destroyed_key_is_gone_for_good(vault):
    # given a youth whose identity is encrypted under their key
    youth = str(uuid.uuid4())
    token = encrypt_for(vault.ensure(youth), youth, IDENTITY)
    # when the key is destroyed
    vault.destroy(youth)
    vault.destroy(youth)  # idempotent
    # then it cannot be read nor recreated, so the ciphertext is unreadable
    assert vault.get(youth) is None
    with pytest.raises(KeyDestroyed):
        vault.ensure(youth)
    assert token.startswith("v1.")


def test_destroying_before_any_key_exists_prevents_a_later_key(vault):
    youth = str(uuid.uuid4())
    vault.destroy(youth)
    with pytest.raises(KeyDestroyed):
        vault.ensure(youth)


def test_rotation_rewraps_live_keys_under_the_new_master(database_url, vault, keyring):
    # given two live keys and one destroyed, all under the old master key
    youths = [str(uuid.uuid4()) for _ in range(3)]
    keys = {y: vault.ensure(y) for y in youths}
    vault.destroy(youths[2])
    token = encrypt_for(keys[youths[0]], youths[0], IDENTITY)
    # when a new master key becomes current and the table is rotated
    new_master = os.urandom(32)
    rotating = VaultKeys(database_url, Keyring(keys={"mk2": new_master, **keyring.keys}, current="mk2"))
    assert rotating.rotate() == 2
    # then a keyring with only the new master opens the live keys, and the old master alone cannot
    only_new = VaultKeys(database_url, Keyring(keys={"mk2": new_master}, current="mk2"))
    assert only_new.get(youths[1]) == keys[youths[1]]
    assert decrypt_for(only_new.get(youths[0]), youths[0], token) == IDENTITY
    assert only_new.get(youths[2]) is None
    with pytest.raises(ValueError, match="mk2"):
        vault.get(youths[0])
    rotating.close()
    only_new.close()
