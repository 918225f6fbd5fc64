"""The agency register and the consent rules every service applies, read from the platform's policy
file (`deploy/policy.toml`, or `KIT_POLICY_FILE`). Pure data once loaded; decisions receive it as
an argument. A service with rules of its own reads them from its own section of the same file
(`policy_section`).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from shared.consent import ConsentRules

# the time zone an agency's operators live by (their "today", a contact's hour), by country
ZONES = {"IT": ZoneInfo("Europe/Rome"), "CH": ZoneInfo("Europe/Zurich")}


def zone_of(country: str | None) -> ZoneInfo:
    return ZONES.get(country or "", ZONES["IT"])


def today_in(register: Register, agency: str, now: datetime | None = None) -> date:
    """Today (at `now`) where the agency is: a review due today is not overdue in Rome at 00:30
    UTC, and a day that is today there is not in the future."""
    found = register.agency(agency)
    return (now or datetime.now(timezone.utc)).astimezone(zone_of(found.country if found else None)).date()

DEFAULT_POLICY_FILE = Path(__file__).resolve().parents[1] / "deploy" / "policy.toml"


@dataclass(frozen=True)
class Agency:
    code: str
    name: str
    country: str
    region: str
    category: str
    may_store_ahv: bool = False


@dataclass(frozen=True)
class Register:
    """Who takes part (the agencies), and the consent rules that hold for all of them."""

    agencies: dict[str, Agency]
    consent_rules: ConsentRules
    notice_versions: dict[str, str]

    def agency(self, code: str) -> Agency | None:
        return self.agencies.get(code)

    def category_of(self, code: str) -> str:
        agency = self.agencies.get(code)
        return agency.category if agency else ""


def register_fields(raw: dict[str, Any]) -> dict[str, Any]:
    """The register's fields from the parsed policy file (for `Register` and the services' policies
    that extend it)."""
    consent = raw.get("consent", {})
    ages = {(country, purpose): int(age)
            for country, per_purpose in consent.get("own_consent_age", {}).items()
            for purpose, age in per_purpose.items()}
    agencies = {code: Agency(code=code, name=a["name"], country=a["country"], region=a["region"],
                             category=a["category"], may_store_ahv=bool(a.get("may_store_ahv", False)))
                for code, a in raw.get("agencies", {}).items()}
    return {"agencies": agencies, "consent_rules": ConsentRules(own_consent_age=ages),
            "notice_versions": dict(consent.get("notice_versions", {}))}


def policy_file(env: dict[str, str] | None = None) -> Path:
    env = dict(os.environ if env is None else env)
    return Path(env.get("KIT_POLICY_FILE") or DEFAULT_POLICY_FILE)


def read_policy(env: dict[str, str] | None = None) -> dict[str, Any]:
    """The policy file, parsed (every section)."""
    return tomllib.loads(policy_file(env).read_text(encoding="utf-8"))


def parse_register(text: str) -> Register:
    return Register(**register_fields(tomllib.loads(text)))


def load_register(env: dict[str, str] | None = None) -> Register:
    return Register(**register_fields(read_policy(env)))


def policy_section(raw: dict[str, Any], service: str) -> dict[str, Any]:
    """A service's own rules: the `[<service>]` table of the policy file (empty when absent)."""
    section = raw.get(service, {})
    return section if isinstance(section, dict) else {}
