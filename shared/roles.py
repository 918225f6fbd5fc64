"""Roles and what each may do: one table, used by the intake decisions and the HTTP API.

`partner_system` is the role of a message from a partner's own system (no `kitrole`): the
agency is accountable for it as for its operators.
"""

from __future__ import annotations

OPERATOR_ROLES = ("operator", "key_worker", "link_worker", "employment_specialist", "supervisor",
                  "auditor", "observatory_analyst", "agency_admin")
ROLES = (*OPERATOR_ROLES, "partner_system")

PERMISSIONS: dict[str, frozenset[str]] = {
    # record facts about a youth's path (commands)
    "case.write": frozenset({"operator", "key_worker", "link_worker", "employment_specialist", "supervisor",
                             "agency_admin", "partner_system"}),
    # read case records of youths the agency may see
    "case.read": frozenset({"operator", "key_worker", "link_worker", "employment_specialist", "supervisor",
                            "agency_admin"}),
    # GDPR art. 9 data (vulnerabilities): need to know only
    "special_category.read": frozenset({"key_worker", "supervisor"}),
    # the youth's wellbeing in social prescribing (questionnaire answers, what matters to them and
    # their goals in their own words): the link workers who hold the conversations and give the
    # questionnaires, and the roles with need to know (the messages name it: `need_to_know`)
    "wellbeing.read": frozenset({"key_worker", "link_worker", "supervisor"}),
    # identity from the vault (names, contacts)
    "identity.read": frozenset({"key_worker", "link_worker", "employment_specialist", "supervisor"}),
    "consent.override": frozenset({"supervisor", "agency_admin"}),
    # import the agency's own activities into the social prescribing directory (HTTP)
    "directory.import": frozenset({"agency_admin"}),
    "youth.merge": frozenset({"supervisor", "agency_admin"}),
    # act on an erasure or restriction request (the agency's data protection contact)
    "youth.erase": frozenset({"agency_admin"}),
    # replay histories, verify the audit log, query the access log
    "audit.read": frozenset({"auditor"}),
}


def may(role: str, permission: str) -> bool:
    return role in PERMISSIONS.get(permission, frozenset())


def roles_table() -> str:
    """Every role code (`kitrole`, an operator account's role) and what it may do, for the docs."""
    rows = ["| role (`kitrole`) | may |", "|---|---|"]
    for role in ROLES:
        granted = ", ".join(f"`{p}`" for p, roles in PERMISSIONS.items() if role in roles) or "—"
        rows.append(f"| `{role}` | {granted} |")
    return "\n".join(rows)
