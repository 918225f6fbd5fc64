"""May agency X see youth Y for purpose P at time T? Answered from the directory's consent rows
with the same pure rule the intake decisions use (`shared.consent.may_see`), fail-closed.

`VISIBLE_SQL` is the same rule as a SQL predicate, for lists; a test holds the two equal.
"""

from __future__ import annotations

from datetime import datetime

import psycopg
from psycopg.rows import dict_row

from shared.consent import Consent, ConsentState, Override, Visibility, may_see

ACCESS_PURPOSES = ("case_management", "sharing")  # either lets an agency see the record

# parameters: %(agency)s, %(category)s ("category:<type>"), %(at)s. The pieces of the rule:
# a consent row `c` in force at that time for a purpose that opens the record,
CONSENT_IN_FORCE_SQL = """c.purpose IN ('case_management', 'sharing') AND c.given_at <= %(at)s
   AND (c.expires_at IS NULL OR %(at)s < c.expires_at) AND (c.withdrawn_at IS NULL OR %(at)s < c.withdrawn_at)
   AND (c.invalidated_at IS NULL OR %(at)s < c.invalidated_at)"""
# the youths an override for the agency opens now,
OVERRIDDEN_IDS_SQL = """SELECT o.youth_id FROM views.consent_overrides o
 WHERE o.agency = %(agency)s AND o.purpose IN ('case_management', 'sharing') AND o.at <= %(at)s AND %(at)s < o.expires_at"""
# and the youth row `y` neither merged, erased nor restricted.
ALIVE_SQL = "y.merged_into IS NULL AND y.erased_at IS NULL AND y.restricted_at IS NULL"

# The ids of the youths whose consents or overrides let the agency see them at that time; an
# uncorrelated subquery, so a list computes the set once (hashed) instead of probing the consents
# once per youth.
VISIBLE_IDS_SQL = f"""
SELECT c.youth_id FROM views.consents c WHERE c.recipient IN (%(agency)s, %(category)s) AND {CONSENT_IN_FORCE_SQL}
UNION
{OVERRIDDEN_IDS_SQL}
"""

# the same rule as a predicate on the youth row aliased `y`
VISIBLE_SQL = f"{ALIVE_SQL} AND y.youth_id IN ({VISIBLE_IDS_SQL})"

# the same rule again, correlated: for a handful of rows (one key worker's youths) probing each
# youth's consents by index beats hashing every consent to the agency first
VISIBLE_ROW_SQL = f"""{ALIVE_SQL} AND (
 EXISTS (SELECT FROM views.consents c WHERE c.youth_id = y.youth_id AND c.recipient IN (%(agency)s, %(category)s)
            AND {CONSENT_IN_FORCE_SQL})
 OR EXISTS (SELECT FROM views.consent_overrides o WHERE o.youth_id = y.youth_id AND o.agency = %(agency)s
               AND o.purpose IN ('case_management', 'sharing') AND o.at <= %(at)s AND %(at)s < o.expires_at))"""

# An agency's caseload: the youths it is involved with (registered them, leads, was referred, or is
# named in a consent) AND may see now; not everyone a category-wide consent would let it open.
# Rows (youth_id, registered_at), written as (consent to the agency itself, which involves it by
# definition) ∪ ((consent to its category ∪ override) ∩ involved): the big first part is read from
# the consents alone (they carry the youth's registration time), without visiting every youth row;
# the few youths merged, erased or restricted are left out through a partial index. A test holds
# it equal to VISIBLE ∩ involved.
CASELOAD_ROWS_SQL = f"""
SELECT c.youth_id, c.registered_at FROM views.consents c
 WHERE c.recipient = %(agency)s AND {CONSENT_IN_FORCE_SQL}
   AND c.youth_id NOT IN (SELECT g.youth_id FROM views.youths g
                          WHERE g.merged_into IS NOT NULL OR g.erased_at IS NOT NULL OR g.restricted_at IS NOT NULL)
UNION
SELECT y.youth_id, y.registered_at FROM views.youths y
 WHERE {ALIVE_SQL}
   AND y.youth_id IN (SELECT c.youth_id FROM views.consents c WHERE c.recipient = %(category)s AND {CONSENT_IN_FORCE_SQL}
                      UNION {OVERRIDDEN_IDS_SQL})
   AND y.youth_id IN (SELECT a.youth_id FROM views.youth_agencies a WHERE a.agency = %(agency)s
                      UNION SELECT c.youth_id FROM views.consents c WHERE c.recipient = %(agency)s)
"""

# The same caseload as a probe of one youth row `y`: for a search that found a few youths by index,
# checked one by one instead of computing the agency's whole caseload. A test holds it equal.
INVOLVED_ROW_SQL = """(EXISTS (SELECT FROM views.youth_agencies a WHERE a.youth_id = y.youth_id AND a.agency = %(agency)s)
 OR EXISTS (SELECT FROM views.consents c WHERE c.youth_id = y.youth_id AND c.recipient = %(agency)s))"""
CASELOAD_ROW_SQL = f"{VISIBLE_ROW_SQL} AND {INVOLVED_ROW_SQL}"


def consent_state(conn: psycopg.Connection, youth_id: str) -> ConsentState:
    cur = conn.cursor(row_factory=dict_row)
    consents = tuple(
        Consent(consent_id=str(r["consent_id"]), purpose=r["purpose"], recipient=r["recipient"],
                legal_basis=r["legal_basis"], given_by=r["given_by"], notice_version=r["notice_version"],
                given_at=r["given_at"], expires_at=r["expires_at"], withdrawn_at=r["withdrawn_at"],
                invalidated_at=r["invalidated_at"])
        for r in cur.execute("SELECT * FROM views.consents WHERE youth_id = %s::uuid ORDER BY given_at", (youth_id,)))
    overrides = tuple(
        Override(agency=r["agency"], purpose=r["purpose"], reason=r["reason"], operator=r["by_role"], at=r["at"],
                 expires_at=r["expires_at"])
        for r in cur.execute("SELECT * FROM views.consent_overrides WHERE youth_id = %s::uuid", (youth_id,)))
    return ConsentState(consents=consents, overrides=overrides)


def may_see_youth(conn: psycopg.Connection, youth_id: str, *, agency: str, agency_category: str, purpose: str,
                  at: datetime) -> Visibility:
    return _visibility(conn, youth_id, agency, agency_category, (purpose,), at)


def may_access_youth(conn: psycopg.Connection, youth_id: str, *, agency: str, agency_category: str,
                     at: datetime) -> bool:
    return _visibility(conn, youth_id, agency, agency_category, ACCESS_PURPOSES, at).allowed


def _visibility(conn: psycopg.Connection, youth_id: str, agency: str, agency_category: str,
                purposes: tuple[str, ...], at: datetime) -> Visibility:
    """Allowed for the first of `purposes` that is; the youth's rows are read once."""
    row = conn.execute("SELECT merged_into, erased_at, restricted_at FROM views.youths WHERE youth_id = %s::uuid",
                       (youth_id,)).fetchone()
    if row is None:
        return Visibility(False, "no such youth")
    if row[0] is not None:
        return Visibility(False, f"merged into {row[0]}")
    if row[1] is not None or row[2] is not None:
        return Visibility(False, "erased" if row[1] is not None else "processing restricted")
    state = consent_state(conn, youth_id)
    answer = Visibility(False, "no consent in force and no override for this agency and purpose")
    for purpose in purposes:
        answer = may_see(state, agency=agency, agency_category=agency_category, purpose=purpose, at=at)
        if answer.allowed:
            break
    return answer
