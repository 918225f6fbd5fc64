"""Dates and times as operators read them: dd/mm/yyyy, and times in their agency's own time zone
(Europe/Rome in Italy, Europe/Zurich in Switzerland). The views hold UTC; pages convert here."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from shared.agencies import zone_of  # noqa: F401 (the pages' zone, from here)



def _parse(value: object) -> date | datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, (date, datetime)):
        return value
    text = str(value)
    try:
        return datetime.fromisoformat(text) if "T" in text or " " in text else date.fromisoformat(text)
    except ValueError:
        return None


def day(value: object, zone: ZoneInfo | None = None) -> str:
    """dd/mm/yyyy (a date-time is converted to the zone first: 23:30 UTC can be tomorrow in Rome)."""
    parsed = _parse(value)
    if parsed is None:
        return ""
    if isinstance(parsed, datetime):
        parsed = (parsed.astimezone(zone) if zone and parsed.tzinfo else parsed).date()
    return parsed.strftime("%d/%m/%Y")


def when(value: object, zone: ZoneInfo | None = None) -> str:
    """dd/mm/yyyy hh:mm in the zone; a bare date as dd/mm/yyyy."""
    parsed = _parse(value)
    if parsed is None:
        return ""
    if not isinstance(parsed, datetime):
        return parsed.strftime("%d/%m/%Y")
    if zone and parsed.tzinfo:
        parsed = parsed.astimezone(zone)
    return parsed.strftime("%d/%m/%Y %H:%M")


def local_input(value: datetime, zone: ZoneInfo) -> str:
    """The value of a `datetime-local` input: the zone's wall time, minutes."""
    return value.astimezone(zone).strftime("%Y-%m-%dT%H:%M")


def from_local_input(text: str, zone: ZoneInfo) -> datetime:
    """A `datetime-local` value read as the zone's wall time (ValueError if it is none)."""
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)
