"""Pure intake decisions: (state, command, now, ids) -> event or reasons. No I/O here."""

from __future__ import annotations

from datetime import datetime

from events.intake import RegisterYouth, YouthRegistered
from events.receipts import Reason

MIN_AGE, MAX_AGE = 15, 30


def decide_register_youth(
    command: RegisterYouth, *, agency: str, now: datetime, new_youth_id: str,
    existing_youth_for_case_ref: str | None,
) -> YouthRegistered | list[Reason]:
    reasons: list[Reason] = []
    if existing_youth_for_case_ref is not None:
        reasons.append(Reason(
            field="data.partner_case_ref", code="already_registered",
            message=f"this agency already registered this case reference as youth {existing_youth_for_case_ref}",
        ))
    age = now.year - command.birth_year
    if not MIN_AGE - 1 <= age <= MAX_AGE:  # birth year only: allow the year of the 15th birthday
        reasons.append(Reason(
            field="data.birth_year", code="out_of_target_age",
            message=f"the platform serves youths aged {MIN_AGE}-{MAX_AGE}; this birth year gives {age}",
        ))
    if not command.region.startswith(command.country + "-"):
        reasons.append(Reason(
            field="data.region", code="region_country_mismatch",
            message=f"region must be a subdivision of {command.country} (e.g. {command.country}-...)",
        ))
    if reasons:
        return reasons
    return YouthRegistered(
        youth_id=new_youth_id, registering_agency=agency, partner_case_ref=command.partner_case_ref,
        birth_year=command.birth_year, country=command.country, region=command.region,
    )
