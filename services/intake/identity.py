"""The identity vault as intake uses it: open what partners sealed, check national ids, encrypt
for the youth's own key. Only ciphertext leaves this module; reasons never echo identity values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import ValidationError

from events.intake import Identity
from events.receipts import Reason
from kit.vault import KeyDestroyed, SealError, VaultKeys, encrypt_for, national_id_pseudonym, unseal, validate_national_id
from shared.agencies import Agency

SCHEME_NAMES = {"IT-CF": "codice fiscale", "CH-AHV": "AHV/AVS number"}


@dataclass(frozen=True)
class CheckedIdentity:
    identity: Identity
    pseudonym: str | None  # keyed HMAC of the national id, for matching across agencies


@dataclass
class IdentityVault:
    keys: VaultKeys
    ingest_private_key: str
    pseudonym_key: bytes

    def open(self, sealed: str, agency: Agency | None, field: str) -> CheckedIdentity | list[Reason]:
        """Unseal, validate the shape, validate the national id and whether this agency may store it."""
        try:
            identity = Identity.model_validate_json(unseal(self.ingest_private_key, sealed))
        except SealError as e:
            return [Reason(field=field, code=f"sealed_{e.code}", message=e.message)]
        except ValidationError as e:
            return [Reason(field=".".join([field, *map(str, err["loc"])]), code=err["type"], message=err["msg"])
                    for err in e.errors(include_input=False, include_url=False)]
        if (identity.national_id is None) != (identity.national_id_scheme is None):
            return [Reason(field=f"{field}.national_id_scheme", code="missing",
                           message="a national id needs its scheme (IT-CF or CH-AHV), and a scheme its id")]
        if identity.national_id is None or identity.national_id_scheme is None:
            return CheckedIdentity(identity, None)
        scheme = identity.national_id_scheme
        if scheme == "CH-AHV" and not (agency and agency.may_store_ahv):
            return [Reason(field=f"{field}.national_id", code="ahv_not_authorised",
                           message="your agency is not authorised to use the Swiss AHV number systematically; "
                                   "send the identity without it")]
        checked = validate_national_id(scheme, identity.national_id)
        if isinstance(checked, tuple):
            code, message = checked
            return [Reason(field=f"{field}.national_id", code=code, message=message)]
        normalised = identity.model_copy(update={"national_id": checked})
        return CheckedIdentity(normalised, national_id_pseudonym(self.pseudonym_key, scheme, checked))

    def encrypt(self, owner_id: str, identity: Identity, ready: Mapping[str, bytes | None] = {}) -> str | list[Reason]:
        return self.encrypt_text(owner_id, identity.model_dump_json(exclude_none=True), ready)

    def encrypt_text(self, owner_id: str, text: str, ready: Mapping[str, bytes | None] = {}) -> str | list[Reason]:
        """Ciphertext under the owner's key (a youth, or an engagement before registration;
        created on first use: a key with no data is harmless). `ready`: keys fetched or created
        ahead for a batch (None: destroyed)."""
        try:
            key = ready[owner_id] if owner_id in ready else self.keys.ensure(owner_id)
        except KeyDestroyed:
            key = None
        if key is None:
            return [Reason(field="data", code="erased", message="the personal data of this record was erased")]
        return encrypt_for(key, owner_id, text.encode())
