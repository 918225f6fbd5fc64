"""Intake bounded context: registration of a youth (the thin path; the rest of intake follows)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from events.base import Message

CASE_REF_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"
REGION_PATTERN = r"^(IT|CH)-[A-Z0-9]{1,3}$"


class RegisterYouth(Message):
    """A partner asks the platform to register a youth it has taken in charge.

    Carries no identity data: the partner's own opaque case reference, the birth year and the
    region of residence only (identity goes to the vault, see the intake issue).
    """

    type_name = "kit.intake.register_youth.v1"
    kind = "command"
    context = "intake"
    summary = "Register a youth taken in charge by the publishing agency."

    partner_case_ref: str = Field(pattern=CASE_REF_PATTERN, description="The agency's own opaque case reference (never a name or a national id).")
    birth_year: int = Field(ge=1990, le=2030, description="Year of birth (age checks, 15-30).")
    country: Literal["IT", "CH"]
    region: str = Field(pattern=REGION_PATTERN, description="ISO 3166-2 region or canton, e.g. IT-25 (Lombardia), CH-TI.")


class YouthRegistered(Message):
    """A youth was registered; `youth_id` is the platform pseudonym and the CloudEvent subject."""

    type_name = "kit.intake.youth_registered.v1"
    kind = "event"
    context = "intake"
    summary = "A youth was registered by an agency."

    youth_id: str = Field(description="Platform pseudonym (UUID).")
    registering_agency: str
    partner_case_ref: str = Field(pattern=CASE_REF_PATTERN)
    birth_year: int
    country: Literal["IT", "CH"]
    region: str = Field(pattern=REGION_PATTERN)
