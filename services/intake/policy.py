"""The intake policy: agency register and configurable rules, read from a TOML file.

Pure data once loaded; decisions receive it as an argument.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from services.intake.consent import ConsentRules

DEFAULT_POLICY_FILE = Path(__file__).resolve().parents[2] / "deploy" / "intake-policy.toml"


@dataclass(frozen=True)
class Agency:
    code: str
    name: str
    country: str
    region: str
    category: str
    may_store_ahv: bool = False


@dataclass(frozen=True)
class Policy:
    agencies: dict[str, Agency]
    consent_rules: ConsentRules
    notice_versions: dict[str, str]
    lost_contact_days: int = 30
    follow_up_months: tuple[int, ...] = (6, 12, 18)
    erase_after_closure_years: dict[str, int] | None = None  # retention: erased on schedule after closure
    legal_hold_years: dict[str, int] | None = None  # records under a retention duty: restriction only

    def agency(self, code: str) -> Agency | None:
        return self.agencies.get(code)

    def category_of(self, code: str) -> str:
        agency = self.agencies.get(code)
        return agency.category if agency else ""


def parse_policy(text: str) -> Policy:
    raw = tomllib.loads(text)
    rules = raw.get("rules", {})
    ages = {(country, purpose): int(age)
            for country, per_purpose in rules.get("own_consent_age", {}).items()
            for purpose, age in per_purpose.items()}
    agencies = {code: Agency(code=code, name=a["name"], country=a["country"], region=a["region"],
                             category=a["category"], may_store_ahv=bool(a.get("may_store_ahv", False)))
                for code, a in raw.get("agencies", {}).items()}
    return Policy(
        agencies=agencies,
        consent_rules=ConsentRules(own_consent_age=ages),
        notice_versions=dict(rules.get("notice_versions", {})),
        lost_contact_days=int(rules.get("lost_contact_days", 30)),
        follow_up_months=tuple(int(m) for m in rules.get("follow_up_months", (6, 12, 18))),
        erase_after_closure_years={k: int(v) for k, v in rules.get("erase_after_closure_years", {}).items()},
        legal_hold_years={k: int(v) for k, v in rules.get("legal_hold_years", {}).items()},
    )


def load_policy(env: dict[str, str] | None = None) -> Policy:
    env = dict(os.environ if env is None else env)
    path = Path(env.get("KIT_POLICY_FILE") or DEFAULT_POLICY_FILE)
    return parse_policy(path.read_text(encoding="utf-8"))
