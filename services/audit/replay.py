"""Auditor replay: a youth's whole path in order (who, when, on behalf of which agency), and the
state of the case as it was at any past instant. Personal data stays ciphertext: replay shows
`[sealed in the vault]`, or `[erased]` once the youth's key was destroyed (crypto-shredding).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable

import psycopg

from kit.service import SERVICE_URN, Platform
from services.audit import log

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


def state_at(conn: psycopg.Connection, youth_id: str, at: datetime, platform: Platform) -> dict[str, Any] | None:
    """The youth's state in each service, as it was at `at`: the events of the youth's own history
    in each service (those whose subject is the youth) recorded up to then, folded with the pure
    fold the service declares. None if no service knew the youth yet."""
    folds = {service.source: (service.name, fold) for service, fold in platform.folds()}
    states: dict[str, Any] = {}
    for row in log.youth_rows(conn, youth_id):
        document = log.decode(row.entry)
        payload = document["payload"]
        if document["kind"] != "event" or payload.get("subject") != youth_id:
            continue
        recorded = datetime.fromisoformat(document["recorded_at"])
        if recorded > at:
            break
        name, fold = folds.get(payload.get("source", ""), (None, None))
        model = platform.registry.get(payload["type"])
        if fold is None or model is None or model.kind != "event" or (name not in states and payload["type"] != fold.starts_with):
            continue
        states[name] = fold.evolve(states.get(name), model.model_validate(payload["data"]), recorded)
    if not states:
        return None
    return {"youth_id": youth_id, "as_of": at.isoformat(),
            "services": {name: folds[SERVICE_URN + name][1].summary(state, at) for name, state in states.items()}}
