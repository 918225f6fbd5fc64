"""Consent, fail-closed, for social prescribing: a youth's record opens to an agency only while the
youth's consents (or an audited override) allow it, by the platform's one rule
(`projections.access`, over the consents the views service keeps from intake's events: a shared
read, declared).

- A referral needs both sides: the referrer must be able to see the youth (else the youth is
  answered as unknown: an agency cannot probe for youths it may not see), and the youth must
  have consented to the receiving agency (else the referral is refused, saying so).
- Every later command about the youth needs the sender's access at that moment: a consent
  withdrawn closes the case to the agency at once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from events.receipts import Reason

MayAccess = Callable[[str, str, datetime], bool]  # (youth id, agency, at) -> allowed
BirthYearOf = Callable[[str], int | None]  # youth id -> the birth year the youth is registered with, if known


def referral_refusal(may_access: MayAccess, youth_id: str, referrer: str, receiver: str,
                     at: datetime) -> list[Reason]:
    if not may_access(youth_id, referrer, at):
        return [Reason(field="data.youth_id", code="unknown_youth", message="no youth with this id")]
    if not may_access(youth_id, receiver, at):
        return [Reason(field="data.to_agency", code="no_consent_to_share",
                       message="the youth has not consented to share their record with this agency")]
    return []


def birth_year_refusal(birth_year_of: BirthYearOf, youth_id: str, birth_year: int) -> list[Reason]:
    """The activities' age rules are checked against the referral's birth year: it must be the one
    the youth is registered with (a referrer that may see the youth may read it there)."""
    registered = birth_year_of(youth_id)
    if registered is None or registered == birth_year:
        return []
    return [Reason(field="data.birth_year", code="not_the_registered_birth_year",
                   message=f"the youth is registered as born in {registered}")]


def access_refusal(may_access: MayAccess, youth_id: str, agency: str, at: datetime) -> list[Reason]:
    if may_access(youth_id, agency, at):
        return []
    return [Reason(field="data.youth_id", code="unknown_youth", message="no youth with this id")]
