"""Auditor replay: a youth's whole path in order (who, when, on behalf of which agency), and the
state of the case as it was at any past instant. Personal data stays ciphertext: replay shows
`[sealed in the vault]`, or `[erased]` once the youth's key was destroyed (crypto-shredding).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable

import psycopg

from events.registry import REGISTRY
from services.audit import log
from services.intake.case import Case, evolve

SEALED, ERASED = "[sealed in the vault]", "[erased]"
CIPHERTEXT_FIELDS = ("ciphertext", "handle_ciphertext")


def path(conn: psycopg.Connection, youth_id: str, key_exists: Callable[[str], bool]) -> list[dict[str, Any]]:
    return [step(log.decode(row.entry), key_exists) for row in log.youth_rows(conn, youth_id)]


def step(document: dict[str, Any], key_exists: Callable[[str], bool]) -> dict[str, Any]:
    payload = document["payload"]
    base = {"seq": document["seq"], "recorded_at": document["recorded_at"], "kind": document["kind"]}
    if document["kind"] == "access":
        return base | {"type": "read", "agency": payload["agency"], "actor": payload["operator_id"],
                       "role": payload["role"], "purpose": payload["purpose"], "what": payload["what"]}
    data = dict(payload.get("data", {}))
    for name in CIPHERTEXT_FIELDS:
        if name in data:  # the owner of the key: the youth, or the engagement before registration
            data[name] = SEALED if key_exists(payload.get("subject") or document["youth_id"]) else ERASED
    return base | {"type": payload["type"], "time": payload["time"], "agency": payload["kitagency"],
                   "actor": payload.get("kitactor"), "role": payload.get("kitrole"),
                   "classification": payload.get("kitclassification"), "data": data}


def state_at(conn: psycopg.Connection, youth_id: str, at: datetime) -> dict[str, Any] | None:
    """Fold the youth's own events recorded up to `at` with the intake service's pure `evolve`."""
    case: Case | None = None
    for row in log.youth_rows(conn, youth_id):
        document = log.decode(row.entry)
        payload = document["payload"]
        if document["kind"] != "event" or payload.get("subject") != youth_id:
            continue
        recorded = datetime.fromisoformat(document["recorded_at"])
        if recorded > at:
            break
        model = REGISTRY.get(payload["type"])
        if model is None or model.kind != "event" or (case is None and payload["type"] != "kit.intake.youth_registered.v1"):
            continue
        case = evolve(case, model.model_validate(payload["data"]), recorded)
    return None if case is None else summary(case, at)


def summary(case: Case, at: datetime) -> dict[str, Any]:
    return {
        "youth_id": case.youth_id, "as_of": at.isoformat(), "registering_agency": case.registering_agency,
        "country": case.country, "region": case.region, "agencies": sorted(case.agencies),
        "lead_agency": case.lead_agency, "key_worker": case.key_worker, "assessed": case.assessed,
        "consents": [{"consent_id": c.consent_id, "purpose": c.purpose, "recipient": c.recipient,
                      "legal_basis": c.legal_basis, "given_by": c.given_by, "in_force": c.in_force(at)}
                     for c in case.consent.consents],
        "overrides": [{"agency": o.agency, "purpose": o.purpose, "reason": o.reason,
                       "in_force": o.at <= at < o.expires_at} for o in case.consent.overrides],
        "project_of_life_version": case.project_version,
        "goals": {gid: {"lifecycle_status": g.lifecycle_status, "achievement_status": g.achievement_status}
                  for gid, g in case.goals.items()},
        "referrals": {rid: {"to_agency": r.to_agency, "service": r.service, "status": r.status}
                      for rid, r in case.referrals.items()},
        "last_contact_at": case.last_contact_at.isoformat() if case.last_contact_at else None,
        "lost_contact": case.lost_contact, "closed": case.closed,
        "exited_on": case.exited_on.isoformat() if case.exited_on else None,
        "merged_into": case.merged_into, "erased": case.erased, "restricted": case.restricted,
    }
