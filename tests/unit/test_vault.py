"""Identity-vault cryptography: sealed identities, per-youth data keys, national ids, secrets."""

import os
import stat

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kit import keys as secrets
from kit.vault import (Keyring, SealError, b64encode, decrypt_for, encrypt_for, generate_ingest_keypair,
                       national_id_pseudonym, new_data_key, seal, unseal, validate_national_id)

PRIVATE, PUBLIC = generate_ingest_keypair()
YOUTH = "3f2b8c1e-5d4a-4e6f-9a7b-0c1d2e3f4a5b"
OTHER_YOUTH = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
IDENTITY = '{"given_name": "Mario", "family_name": "Rossi"}'.encode()


def test_a_sealed_identity_opens_only_with_the_platform_key():
    # given an identity sealed by a partner for the platform's public key
    sealed = seal(PUBLIC, IDENTITY)
    # then it is not plaintext on the wire, and the platform's private key opens it
    assert sealed.startswith("v1.") and b"Mario" not in sealed.encode()
    assert unseal(PRIVATE, sealed) == IDENTITY


def test_sealing_twice_gives_different_tokens():
    assert seal(PUBLIC, IDENTITY) != seal(PUBLIC, IDENTITY)


def test_a_sealed_identity_does_not_open_with_another_platform_key():
    # given an identity sealed for the platform
    sealed = seal(PUBLIC, IDENTITY)
    # when another key tries to open it
    other_private, _ = generate_ingest_keypair()
    with pytest.raises(SealError) as error:
        unseal(other_private, sealed)
    # then it is refused as not meant for this platform
    assert error.value.code == "not_for_this_platform"


def test_a_tampered_sealed_identity_is_refused():
    # given a sealed identity with one ciphertext character changed
    sealed = seal(PUBLIC, IDENTITY)
    tampered = sealed[:-5] + ("A" if sealed[-5] != "A" else "B") + sealed[-4:]
    # then opening it fails authentication
    with pytest.raises(SealError) as error:
        unseal(PRIVATE, tampered)
    assert error.value.code in ("malformed", "not_for_this_platform")


@pytest.mark.parametrize("garbage", ["", "v1.", "v2." + "A" * 80, "v1.not base64!!", "v1.AAAA", "hello"])
def test_garbage_is_malformed_and_the_message_does_not_echo_it(garbage):
    with pytest.raises(SealError) as error:
        unseal(PRIVATE, garbage)
    assert error.value.code == "malformed"
    assert len(garbage) < 4 or garbage not in str(error.value)


def test_a_padded_sealed_token_is_accepted():
    sealed = seal(PUBLIC, IDENTITY)
    assert unseal(PRIVATE, sealed + "=" * (-len(sealed[3:]) % 4)) == IDENTITY


def test_a_youth_ciphertext_does_not_open_for_another_youth():
    # given a ciphertext of one youth's identity
    key = new_data_key()
    token = encrypt_for(key, YOUTH, IDENTITY)
    # then it opens for that youth, and not when moved onto another youth's record
    assert decrypt_for(key, YOUTH, token) == IDENTITY
    with pytest.raises(ValueError):
        decrypt_for(key, OTHER_YOUTH, token)


def test_a_youth_ciphertext_does_not_open_with_another_data_key():
    token = encrypt_for(new_data_key(), YOUTH, IDENTITY)
    with pytest.raises(ValueError):
        decrypt_for(new_data_key(), YOUTH, token)


def test_data_keys_survive_master_key_rotation():
    # given a data key wrapped under the old master key
    old = Keyring(keys={"mk1": os.urandom(32)}, current="mk1")
    data_key = new_data_key()
    wrapped = old.wrap(data_key)
    # when a new master key becomes current, keeping the old one for unwrapping
    rotated = Keyring(keys={"mk2": os.urandom(32), **old.keys}, current="mk2")
    assert rotated.unwrap(wrapped) == data_key
    rewrapped = rotated.rewrap(wrapped)
    # then the rewrapped key opens with the new master alone, and the old master cannot open it
    assert Keyring(keys={"mk2": rotated.keys["mk2"]}, current="mk2").unwrap(rewrapped) == data_key
    with pytest.raises(ValueError, match="mk2"):
        old.unwrap(rewrapped)


def test_a_wrapped_key_does_not_open_with_a_different_master_of_the_same_id():
    wrapped = Keyring(keys={"mk1": os.urandom(32)}, current="mk1").wrap(new_data_key())
    with pytest.raises(ValueError):
        Keyring(keys={"mk1": os.urandom(32)}, current="mk1").unwrap(wrapped)


def test_a_keyring_refuses_short_master_keys():
    with pytest.raises(ValueError, match="32 bytes"):
        Keyring(keys={"mk1": b"short"}, current="mk1")


def test_a_valid_codice_fiscale_is_normalised():
    assert validate_national_id("IT-CF", "rssmra 85t10 a562s") == "RSSMRA85T10A562S"
    assert validate_national_id("IT-CF", "RSSMRA85T10A562S") == "RSSMRA85T10A562S"


def test_a_codice_fiscale_with_a_wrong_check_letter_is_refused_without_echoing_it():
    code, message = validate_national_id("IT-CF", "RSSMRA85T10A562T")
    assert code == "invalid_checksum"
    assert "codice fiscale" in message and "check character" in message
    assert "RSSMRA85T10A562T" not in message and "RSSMRA" not in message


def test_an_eleven_digit_temporary_code_is_not_a_personal_codice_fiscale():
    assert validate_national_id("IT-CF", "00743110157")[0] == "invalid_length"


def test_a_codice_fiscale_with_bad_characters_is_invalid_format():
    assert validate_national_id("IT-CF", "RSSMRA85T10A5@2S")[0] == "invalid_format"


def test_a_valid_ahv_number_is_normalised():
    assert validate_national_id("CH-AHV", "756.9217.0769.85") == "7569217076985"


def test_an_ahv_number_with_a_wrong_check_digit_is_refused():
    code, message = validate_national_id("CH-AHV", "756.9217.0769.84")
    assert code == "invalid_checksum"
    assert "9217" not in message
    assert validate_national_id("CH-AHV", "756.9217.0769")[0] == "invalid_length"


def test_national_id_pseudonyms_are_deterministic_per_key():
    key, other_key = os.urandom(32), os.urandom(32)
    first = national_id_pseudonym(key, "IT-CF", "RSSMRA85T10A562S")
    assert first == national_id_pseudonym(key, "IT-CF", "RSSMRA85T10A562S")
    assert first != national_id_pseudonym(other_key, "IT-CF", "RSSMRA85T10A562S")
    assert first != national_id_pseudonym(key, "CH-AHV", "RSSMRA85T10A562S")
    assert len(first) == 64 and "RSSMRA" not in first


def test_secrets_are_generated_once_and_kept_private(tmp_path):
    # given an empty data directory and no env settings
    data = tmp_path / "data"
    # when the secrets are read twice
    keyring, pseudonym, private = secrets.master_keys(data, {}), secrets.pseudonym_key(data, {}), \
        secrets.ingest_private_key(data, {})
    # then they are stable, and their files are readable by the owner only
    assert secrets.master_keys(data, {}) == keyring and keyring.current == "mk1"
    assert secrets.pseudonym_key(data, {}) == pseudonym and len(pseudonym) == 32
    assert secrets.ingest_private_key(data, {}) == private
    for name in ("master-keys", "pseudonym-key", "ingest-private-key"):
        assert stat.S_IMODE((data / name).stat().st_mode) == 0o600
    assert not [p for p in data.iterdir() if p.name.endswith(".tmp")]


def test_the_ingest_public_key_opens_the_seal_of_the_private_key(tmp_path):
    private = secrets.ingest_private_key(tmp_path, {})
    assert unseal(private, seal(secrets.ingest_public_key(private), IDENTITY)) == IDENTITY


def test_env_secrets_override_the_files(tmp_path):
    # given secrets already generated in the data directory
    secrets.master_keys(tmp_path, {}), secrets.pseudonym_key(tmp_path, {}), secrets.ingest_private_key(tmp_path, {})
    mk2, mk1, pk = os.urandom(32), os.urandom(32), os.urandom(48)
    private, _ = generate_ingest_keypair()
    env = {"KIT_MASTER_KEYS": f"mk2:{b64encode(mk2)}, mk1:{b64encode(mk1)}",
           "KIT_PSEUDONYM_KEY": b64encode(pk), "KIT_INGEST_PRIVATE_KEY": private}
    # then the environment wins, and the first master key is current
    assert secrets.master_keys(tmp_path, env) == Keyring(keys={"mk2": mk2, "mk1": mk1}, current="mk2")
    assert secrets.pseudonym_key(tmp_path, env) == pk
    assert secrets.ingest_private_key(tmp_path, env) == private


def test_a_master_key_of_the_wrong_length_is_refused_without_printing_it(tmp_path):
    short = b64encode(b"sixteen-byte-key")
    with pytest.raises(ValueError) as error:
        secrets.master_keys(tmp_path, {"KIT_MASTER_KEYS": f"mk1:{short}"})
    assert "32 bytes" in str(error.value) and "KIT_MASTER_KEYS" in str(error.value)
    assert short not in str(error.value)


def test_a_short_pseudonym_key_is_refused(tmp_path):
    with pytest.raises(ValueError, match="at least 32 bytes"):
        secrets.pseudonym_key(tmp_path, {"KIT_PSEUDONYM_KEY": b64encode(os.urandom(16))})


@settings(max_examples=50, deadline=None)
@given(plaintext=st.binary(max_size=2048))
def test_any_plaintext_round_trips_through_seal_and_youth_encryption(plaintext):
    assert unseal(PRIVATE, seal(PUBLIC, plaintext)) == plaintext
    key = new_data_key()
    assert decrypt_for(key, YOUTH, encrypt_for(key, YOUTH, plaintext)) == plaintext


def test_a_wrapped_key_read_as_json_hex_text_unwraps_like_its_bytes():
    # given a key wrapped by the keyring, as PostgreSQL writes a bytea into a statement's JSON
    import os

    from kit.vault import Keyring, VaultKeys

    keys = VaultKeys("postgresql:///unused", Keyring(keys={"mk1": os.urandom(32)}, current="mk1"))
    data_key = os.urandom(32)
    wrapped = keys.keyring.wrap(data_key)
    # then the text and the bytes open to the same key, and none is none
    assert keys.unwrap("\\x" + wrapped.hex()) == keys.unwrap(wrapped) == data_key
    assert keys.unwrap(None) is None
