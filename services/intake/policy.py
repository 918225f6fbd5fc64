"""The intake policy: the shared register and consent rules, plus intake's own rules (the `[intake]`
section of the policy file). Pure data once loaded; decisions receive it as an argument.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from typing import Any

from shared.agencies import Register, policy_section, read_policy, register_fields


@dataclass(frozen=True)
class Policy(Register):
    lost_contact_days: int = 30
    follow_up_months: tuple[int, ...] = (6, 12, 18)
    erase_after_closure_years: dict[str, int] | None = None  # retention: erased on schedule after closure
    legal_hold_years: dict[str, int] | None = None  # records under a retention duty: restriction only
    erasure_notice_days: int = 30  # a retention erasure is scheduled this far ahead: agency admins may stop it


def policy_from(raw: dict[str, Any]) -> Policy:
    rules = policy_section(raw, "intake")
    return Policy(
        **register_fields(raw),
        lost_contact_days=int(rules.get("lost_contact_days", 30)),
        follow_up_months=tuple(int(m) for m in rules.get("follow_up_months", (6, 12, 18))),
        erase_after_closure_years={k: int(v) for k, v in rules.get("erase_after_closure_years", {}).items()},
        legal_hold_years={k: int(v) for k, v in rules.get("legal_hold_years", {}).items()},
        erasure_notice_days=int(rules.get("erasure_notice_days", 30)),
    )


def parse_policy(text: str) -> Policy:
    return policy_from(tomllib.loads(text))


def load_policy(env: dict[str, str] | None = None) -> Policy:
    return policy_from(read_policy(env))
