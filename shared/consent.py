"""Consent decisions (pure): give, withdraw, invalidate, override, and the one question the rest
of the platform asks: may agency X see youth Y for purpose P at time T? Fail-closed.

Modelled on OpenSPP's consent: per purpose and recipient, with legal basis, who gave it, the
privacy-notice version, expiry; a given consent is immutable (a mistake is invalidated and
recorded anew); minors below the configured age need a guardian's consent.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from events.receipts import Reason

MAX_CONSENT_TERM = timedelta(days=10 * 366)  # an expiry further off is a typo (no expiry: until withdrawn)
MAX_OVERRIDE_TERM = timedelta(days=366)  # an override without consent is an exception, reviewed yearly

Purpose = Literal["case_management", "sharing", "family_contact", "observatory_statistics"]
LegalBasis = Literal["consent", "legal_obligation", "public_task", "vital_interest"]
GivenBy = Literal["youth", "guardian"]


@dataclass(frozen=True)
class ConsentRules:
    """Per country and purpose: the age from which the youth consents alone (Italy: 14 digital)."""

    own_consent_age: dict[tuple[str, str], int]
    default_age: int = 16

    def age_for(self, country: str, purpose: str) -> int:
        return self.own_consent_age.get((country, purpose), self.default_age)


@dataclass(frozen=True)
class Consent:
    consent_id: str
    purpose: Purpose
    recipient: str  # an agency code or "category:<agency type>"
    legal_basis: LegalBasis
    given_by: GivenBy
    notice_version: str
    given_at: datetime
    expires_at: datetime | None = None
    withdrawn_at: datetime | None = None
    invalidated_at: datetime | None = None

    def in_force(self, at: datetime) -> bool:
        return (self.given_at <= at and (self.expires_at is None or at < self.expires_at)
                and (self.withdrawn_at is None or at < self.withdrawn_at)
                and (self.invalidated_at is None or at < self.invalidated_at))

    def covers(self, agency: str, agency_category: str, purpose: str) -> bool:
        return self.purpose == purpose and self.recipient in (agency, f"category:{agency_category}")


@dataclass(frozen=True)
class Override:
    agency: str
    purpose: Purpose
    reason: str
    operator: str
    at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class ConsentState:
    consents: tuple[Consent, ...] = ()
    overrides: tuple[Override, ...] = ()


@dataclass(frozen=True)
class Visibility:
    allowed: bool
    basis: str  # "consent:<id>", "override", or why not


def may_see(state: ConsentState, *, agency: str, agency_category: str, purpose: str, at: datetime) -> Visibility:
    """Fail-closed: only a consent in force for this agency (or its category) and purpose, or an
    unexpired override recorded for this agency and purpose, allows it."""
    for consent in state.consents:
        if consent.covers(agency, agency_category, purpose) and consent.in_force(at):
            return Visibility(True, f"consent:{consent.consent_id}")
    for override in state.overrides:
        if override.agency == agency and override.purpose == purpose and override.at <= at < override.expires_at:
            return Visibility(True, "override")
    return Visibility(False, "no consent in force and no override for this agency and purpose")


def give(state: ConsentState, consent: Consent, *, age: int, country: str, rules: ConsentRules,
         current_notice: str) -> Consent | list[Reason]:
    reasons = []
    if any(c.consent_id == consent.consent_id for c in state.consents):
        reasons.append(Reason(field="consent_id", code="duplicate", message="this consent id is already recorded"))
    if consent.notice_version != current_notice:
        reasons.append(Reason(field="notice_version", code="outdated_notice",
                              message=f"consent must refer to the current privacy notice {current_notice}"))
    needed = rules.age_for(country, consent.purpose)
    if consent.legal_basis == "consent" and consent.given_by == "youth" and age < needed:
        reasons.append(Reason(field="given_by", code="guardian_required",
                              message=f"below {needed} in {country} a guardian gives consent for {consent.purpose}"))
    if consent.expires_at is not None and consent.expires_at <= consent.given_at:
        reasons.append(Reason(field="expires_at", code="expires_before_given", message="expiry must follow the date given"))
    elif consent.expires_at is not None and consent.expires_at > consent.given_at + MAX_CONSENT_TERM:
        reasons.append(Reason(field="expires_at", code="too_far_ahead",
                              message="a consent expires within ten years of being given (none: until withdrawn)"))
    if consent.purpose == "sharing" and consent.recipient is None:
        reasons.append(Reason(field="recipient", code="missing", message="sharing needs a recipient agency or category"))
    if consent.withdrawn_at or consent.invalidated_at:
        reasons.append(Reason(field="", code="not_fresh", message="a new consent cannot be withdrawn or invalidated"))
    return reasons or consent


def _find(state: ConsentState, consent_id: str) -> Consent | None:
    return next((c for c in state.consents if c.consent_id == consent_id), None)


def withdraw(state: ConsentState, consent_id: str, *, at: datetime) -> Consent | list[Reason]:
    consent = _find(state, consent_id)
    if consent is None:
        return [Reason(field="consent_id", code="unknown_consent", message="no such consent for this youth")]
    if consent.withdrawn_at or consent.invalidated_at:
        return [Reason(field="consent_id", code="not_in_force", message="already withdrawn or invalidated")]
    if at < consent.given_at:
        return [Reason(field="withdrawn_at", code="before_given", message="a consent is withdrawn after it was given")]
    return replace(consent, withdrawn_at=at)


def invalidate(state: ConsentState, consent_id: str, *, at: datetime, reason: str) -> Consent | list[Reason]:
    """A mistaken record is never edited: it is invalidated, and the right one recorded anew."""
    consent = _find(state, consent_id)
    if consent is None:
        return [Reason(field="consent_id", code="unknown_consent", message="no such consent for this youth")]
    if not reason.strip():
        return [Reason(field="reason", code="missing", message="say why the record is invalid")]
    if consent.invalidated_at:
        return [Reason(field="consent_id", code="already_invalidated", message="already invalidated")]
    return replace(consent, invalidated_at=at)


def record_override(*, agency: str, purpose: Purpose, reason: str, operator: str, may_override: bool,
                    at: datetime, expires_at: datetime) -> Override | list[Reason]:
    reasons = []
    if not may_override:
        reasons.append(Reason(field="", code="forbidden", message="this role holds no consent-override permission"))
    if len(reason.strip()) < 10:
        reasons.append(Reason(field="reason", code="missing", message="an override needs a reason (auditors read it)"))
    if expires_at <= at:
        reasons.append(Reason(field="expires_at", code="expires_before_given", message="an override must expire later"))
    elif expires_at > at + MAX_OVERRIDE_TERM:
        reasons.append(Reason(field="expires_at", code="too_far_ahead", message="an override lasts a year at most"))
    return reasons or Override(agency=agency, purpose=purpose, reason=reason, operator=operator, at=at,
                               expires_at=expires_at)


def evolve(state: ConsentState, change: Consent | Override) -> ConsentState:
    """Apply a decided change: a new or updated consent (by id), or an override."""
    if isinstance(change, Override):
        return replace(state, overrides=(*state.overrides, change))
    others = tuple(c for c in state.consents if c.consent_id != change.consent_id)
    return replace(state, consents=(*others, change))
