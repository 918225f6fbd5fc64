"""Youth directory: every youth's case summary, the agencies in the path, consents and overrides
(the basis of who may see what), referrals (both ends: closed-loop feedback) and the vault's
ciphertext (opened only by the API, per role, with the youth's key).

Rows carry pseudonyms only; identity stays ciphertext here.
"""

from __future__ import annotations

import psycopg
from psycopg.types.json import Jsonb

from events import intake as ev
from events.envelope import CloudEvent
from events.registry import REGISTRY

TABLES = """
CREATE TABLE IF NOT EXISTS views.youths (
    youth_id uuid PRIMARY KEY,
    registering_agency text NOT NULL,
    partner_case_ref text NOT NULL,
    birth_year int NOT NULL,
    country text NOT NULL,
    region text NOT NULL,
    registered_at timestamptz NOT NULL,
    first_contact_at timestamptz,
    engagement_id uuid,
    lead_agency text,
    key_worker text,
    neet_status text,
    education_level text,
    vulnerabilities jsonb,
    project_version int NOT NULL DEFAULT 0,
    next_review_due date,
    last_contact_at timestamptz,
    lost_after_days int,
    lost_contact boolean NOT NULL DEFAULT false,
    closed_on date,
    destination text,
    merged_into uuid,
    erased_at timestamptz,
    restricted_at timestamptz,
    source_seq bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS youths_agency ON views.youths (registering_agency, registered_at);
CREATE INDEX IF NOT EXISTS youths_newest ON views.youths (registered_at DESC, youth_id);
CREATE TABLE IF NOT EXISTS views.youth_agencies (
    youth_id uuid NOT NULL,
    agency text NOT NULL,
    role text NOT NULL,
    PRIMARY KEY (youth_id, agency, role)
);
CREATE INDEX IF NOT EXISTS youth_agencies_agency ON views.youth_agencies (agency);
CREATE TABLE IF NOT EXISTS views.consents (
    youth_id uuid NOT NULL,
    consent_id uuid NOT NULL,
    purpose text NOT NULL,
    recipient text NOT NULL,
    legal_basis text NOT NULL,
    given_by text NOT NULL,
    notice_version text NOT NULL,
    given_at timestamptz NOT NULL,
    expires_at timestamptz,
    withdrawn_at timestamptz,
    invalidated_at timestamptz,
    recorded_by text NOT NULL,
    PRIMARY KEY (youth_id, consent_id)
);
CREATE INDEX IF NOT EXISTS consents_recipient ON views.consents (recipient, purpose);
CREATE TABLE IF NOT EXISTS views.consent_overrides (
    youth_id uuid NOT NULL,
    agency text NOT NULL,
    purpose text NOT NULL,
    reason text NOT NULL,
    at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    by_agency text NOT NULL,
    by_role text NOT NULL,
    source_seq bigint PRIMARY KEY
);
CREATE INDEX IF NOT EXISTS overrides_youth ON views.consent_overrides (youth_id, agency);
CREATE TABLE IF NOT EXISTS views.referrals (
    referral_id uuid PRIMARY KEY,
    youth_id uuid NOT NULL,
    from_agency text NOT NULL,
    to_agency text NOT NULL,
    service text NOT NULL,
    transfer_lead boolean NOT NULL,
    status text NOT NULL,
    note text,
    requested_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS referrals_to ON views.referrals (to_agency, status);
CREATE INDEX IF NOT EXISTS referrals_from ON views.referrals (from_agency, status);
CREATE TABLE IF NOT EXISTS views.follow_ups (
    youth_id uuid NOT NULL,
    checkpoint_months int NOT NULL,
    due_on date NOT NULL,
    recorded_on date,
    situation text,
    PRIMARY KEY (youth_id, checkpoint_months)
);
CREATE INDEX IF NOT EXISTS follow_ups_due ON views.follow_ups (due_on) WHERE recorded_on IS NULL;
CREATE TABLE IF NOT EXISTS views.vault (
    youth_id uuid NOT NULL,
    person_id uuid NOT NULL,
    ciphertext text NOT NULL,
    recorded_at timestamptz NOT NULL,
    PRIMARY KEY (youth_id, person_id)
);
"""


class YouthDirectory:
    name = "youth_directory"

    def create_tables(self, conn: psycopg.Connection) -> None:
        conn.execute(TABLES)

    def apply(self, conn: psycopg.Connection, event: CloudEvent) -> None:
        model = REGISTRY.get(event.type)
        if model is None or model.kind != "event":
            return
        data = model.model_validate(event.data)
        handler = HANDLERS.get(type(data))
        if handler is not None:
            handler(conn, data, event)
        # other types are not part of this view; their position is recorded all the same


def _update(conn: psycopg.Connection, youth_id: str, **columns) -> None:
    assignments = ", ".join(f"{name} = %({name})s" for name in columns)
    conn.execute(f"UPDATE views.youths SET {assignments} WHERE youth_id = %(youth_id)s",
                 {**columns, "youth_id": youth_id})


def _involve(conn: psycopg.Connection, youth_id: str, agency: str, role: str) -> None:
    conn.execute("INSERT INTO views.youth_agencies VALUES (%s, %s, %s) ON CONFLICT DO NOTHING", (youth_id, agency, role))


def _registered(conn, d: ev.YouthRegistered, e: CloudEvent) -> None:
    conn.execute(
        "INSERT INTO views.youths (youth_id, registering_agency, partner_case_ref, birth_year, country, region,"
        " registered_at, first_contact_at, engagement_id, source_seq) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (youth_id) DO NOTHING",
        (d.youth_id, d.registering_agency, d.partner_case_ref, d.birth_year, d.country, d.region, e.time,
         d.first_contact_at, d.engagement_id, e.kitseq))
    _involve(conn, d.youth_id, d.registering_agency, "registrant")


def _consent(conn, d: ev.ConsentRecorded, e: CloudEvent) -> None:
    t = d.consent
    conn.execute(
        "INSERT INTO views.consents VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, NULL, NULL, %s) ON CONFLICT DO NOTHING",
        (d.youth_id, t.consent_id, t.purpose, t.recipient or d.recorded_by, t.legal_basis, t.given_by,
         t.notice_version, t.given_at, t.expires_at, d.recorded_by))


def _override(conn, d: ev.ConsentOverridden, e: CloudEvent) -> None:
    conn.execute("INSERT INTO views.consent_overrides VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                 (d.youth_id, d.agency, d.purpose, d.reason, d.overridden_at, d.expires_at, d.by_agency, d.by_role,
                  e.kitseq))


def _referral(conn, d: ev.ReferralRequested, e: CloudEvent) -> None:
    conn.execute("INSERT INTO views.referrals VALUES (%s, %s, %s, %s, %s, %s, 'requested', %s, %s, %s)"
                 " ON CONFLICT DO NOTHING",
                 (d.referral_id, d.youth_id, d.from_agency, d.to_agency, d.service, d.transfer_lead, d.reason,
                  e.time, e.time))
    _involve(conn, d.youth_id, d.to_agency, "referral")


def _closed(conn, d: ev.CaseClosed) -> None:
    _update(conn, d.youth_id, closed_on=d.exited_on, destination=d.destination)
    for f in d.follow_ups:
        conn.execute("INSERT INTO views.follow_ups VALUES (%s, %s, %s, NULL, NULL) ON CONFLICT DO NOTHING",
                     (d.youth_id, f.checkpoint_months, f.due_on))


def _erase(conn, d: ev.YouthErased) -> None:
    """Purge what this view holds of the youth's personal data (the vault's ciphertext); keep the
    pseudonymous skeleton so counts and the auditors' replay still add up."""
    conn.execute("DELETE FROM views.vault WHERE youth_id = %s", (d.youth_id,))
    conn.execute("UPDATE views.youths SET erased_at = %s, partner_case_ref = 'erased', vulnerabilities = NULL"
                 " WHERE youth_id = %s", (d.erased_at, d.youth_id))


def _contact(conn, d: ev.ContactLogged, e: CloudEvent) -> None:
    if d.outcome == "reached":
        conn.execute("UPDATE views.youths SET last_contact_at = greatest(last_contact_at, %s), lost_contact = false"
                     " WHERE youth_id = %s", (d.occurred_at, d.youth_id))


HANDLERS = {
    ev.YouthRegistered: _registered,
    ev.AgencyJoined: lambda conn, d, e: _involve(conn, d.youth_id, d.agency, "registrant"),
    ev.YouthMerged: lambda conn, d, e: _update(conn, d.youth_id, merged_into=d.merged_into),
    ev.IdentityRecorded: lambda conn, d, e: conn.execute(
        "INSERT INTO views.vault VALUES (%s, %s, %s, %s) ON CONFLICT (youth_id, person_id)"
        " DO UPDATE SET ciphertext = excluded.ciphertext, recorded_at = excluded.recorded_at",
        (d.youth_id, d.person_id, d.ciphertext, e.time)),
    ev.ConsentRecorded: _consent,
    ev.ConsentWithdrawn: lambda conn, d, e: conn.execute(
        "UPDATE views.consents SET withdrawn_at = %s WHERE youth_id = %s AND consent_id = %s",
        (d.withdrawn_at, d.youth_id, d.consent_id)),
    ev.ConsentInvalidated: lambda conn, d, e: conn.execute(
        "UPDATE views.consents SET invalidated_at = %s WHERE youth_id = %s AND consent_id = %s",
        (d.invalidated_at, d.youth_id, d.consent_id)),
    ev.ConsentOverridden: _override,
    ev.YouthAssessed: lambda conn, d, e: _update(conn, d.youth_id, neet_status=d.neet_status,
                                                 education_level=d.education_level),
    ev.VulnerabilitiesAssessed: lambda conn, d, e: _update(conn, d.youth_id,
                                                           vulnerabilities=Jsonb(d.vulnerabilities.model_dump())),
    ev.CaseOpened: lambda conn, d, e: (_update(conn, d.youth_id, lead_agency=d.lead_agency, key_worker=d.key_worker),
                                       _involve(conn, d.youth_id, d.lead_agency, "lead")),
    ev.LeadTransferred: lambda conn, d, e: (_update(conn, d.youth_id, lead_agency=d.to_agency),
                                            _involve(conn, d.youth_id, d.to_agency, "lead")),
    ev.ProjectOfLifeAgreed: lambda conn, d, e: _update(conn, d.youth_id, project_version=d.version,
                                                       next_review_due=d.next_review_due),
    ev.ProjectReviewRecorded: lambda conn, d, e: _update(conn, d.youth_id, next_review_due=d.next_review_due),
    ev.ReferralRequested: _referral,
    ev.ReferralStatusChanged: lambda conn, d, e: conn.execute(
        "UPDATE views.referrals SET status = %s, note = coalesce(%s, note), updated_at = %s WHERE referral_id = %s",
        (d.status, d.note, e.time, d.referral_id)),
    ev.ContactLogged: _contact,
    ev.ContactCadenceSet: lambda conn, d, e: _update(conn, d.youth_id, lost_after_days=d.lost_after_days),
    ev.ContactLost: lambda conn, d, e: _update(conn, d.youth_id, lost_contact=True),
    ev.CaseClosed: lambda conn, d, e: _closed(conn, d),
    ev.FollowUpRecorded: lambda conn, d, e: conn.execute(
        "UPDATE views.follow_ups SET recorded_on = %s, situation = %s WHERE youth_id = %s AND checkpoint_months = %s",
        (d.recorded_on, d.situation, d.youth_id, d.checkpoint_months)),
    ev.YouthErased: lambda conn, d, e: _erase(conn, d),
    ev.ProcessingRestricted: lambda conn, d, e: _update(conn, d.youth_id, restricted_at=d.restricted_at),
}
