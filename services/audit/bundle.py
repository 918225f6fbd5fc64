"""A youth's path as a self-contained, signed export: every entry's bytes with its inclusion proof
against one signed checkpoint. `verify_bundle` needs nothing but the bundle and the log's public
key (no database, no network): an auditor checks it offline with `kit audit verify-bundle`.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone

from kit.checkpoints import SignedCheckpoint
from kit.merkle import leaf_hash, verify_inclusion
from services.audit import log
from services.audit.verify import Proven

FORMAT = "kit-audit-bundle-v1"


def make_bundle(youth_id: str, signed: SignedCheckpoint, proven: list[Proven]) -> dict:
    return {
        "format": FORMAT,
        "youth_id": youth_id,
        "exported_at": datetime.now(timezone.utc).isoformat(),
        "checkpoint": signed.to_json(),
        "entries": [{"seq": p.seq, "entry": base64.b64encode(p.entry).decode(),
                     "proof": [base64.b64encode(h).decode() for h in p.proof]} for p in proven],
    }


def verify_bundle(bundle: dict, public_key: str) -> list[str]:
    """Problems found; an empty list means every entry is in the log the key signed."""
    try:
        if bundle.get("format") != FORMAT:
            return [f"not a {FORMAT} bundle"]
        signed = SignedCheckpoint.from_json(bundle["checkpoint"])
        problems = [] if signed.verify(public_key) else ["the checkpoint is not signed by this key"]
        size, root = signed.checkpoint.size, signed.checkpoint.root
        youth = bundle["youth_id"]
        linked = {youth} | {s for item in bundle["entries"] for s in _subjects(base64.b64decode(item["entry"]))
                            if youth in _subjects(base64.b64decode(item["entry"]))}  # engagement histories linked to the youth
        for item in bundle["entries"]:
            entry = base64.b64decode(item["entry"], validate=True)
            proof = [base64.b64decode(h, validate=True) for h in item["proof"]]
            seq = item["seq"]
            if not entry.startswith(log.index_prefix(seq)):
                problems.append(f"entry {seq}: its bytes belong to another position")
            elif not verify_inclusion(leaf_hash(entry), seq - 1, size, proof, root):
                problems.append(f"entry {seq}: not in the signed log (modified, or a wrong proof)")
            elif not _subjects(entry) & linked:
                problems.append(f"entry {seq}: does not concern youth {youth}")
        return problems
    except (KeyError, TypeError, ValueError) as e:
        return [f"malformed bundle: {type(e).__name__}"]


def _subjects(entry: bytes) -> set[str]:
    """The youth (or linked engagement) ids an entry concerns."""
    document = json.loads(entry)
    payload = document.get("payload", {})
    data = payload.get("data", {}) if isinstance(payload, dict) else {}
    return {str(v) for v in (document.get("youth_id"), data.get("youth_id"), data.get("engagement_id")) if v}
