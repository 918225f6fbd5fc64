"""What a social prescribing step of the youth's path says besides its name, in the reader's
words (the youth page asks the service that declares the step: `step_details`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

OPTIONS = ("decision", "ending", "occasion", "channel", "outcome", "progress")


def step_details(data: dict[str, Any], t: Callable[..., str], agency_name: Callable[[str], str]) -> list[str]:
    words = [t("opt." + data[k]) for k in OPTIONS if isinstance(data.get(k), str)]
    if isinstance(data.get("to_agency"), str):
        words.append(f"{t('field.to_agency')}: {agency_name(data['to_agency'])}")
    if isinstance(data.get("needs"), list):  # a "what matters" conversation: its areas (the words stay sealed)
        words.append(", ".join(t("opt." + area) for area in data["needs"] if isinstance(area, str)))
    if isinstance(data.get("goals"), list):  # a plan: how many goals, in which areas
        words.append(t("goals_n", n=len(data["goals"])))
    if isinstance(data.get("area"), str):  # a goal reviewed
        words.append(t("opt." + data["area"]))
    if isinstance(data.get("sessions_recorded"), int) and data["sessions_recorded"]:  # a prescription's outcome
        words.append(t("sessions_attended_n", n=data.get("sessions_attended", 0), of=data["sessions_recorded"]))
    if data.get("first_attendance") and isinstance(data.get("days_from_referral"), int):
        words.append(t("first_attendance_after_days", n=data["days_from_referral"]))
    if isinstance(data.get("change_direction"), dict):  # a wellbeing follow-up (a plug-in's items by their id)
        known = getattr(t, "has", lambda key: True)
        words += [f"{t('wellbeing.' + item) if known('wellbeing.' + item) else item}: {t('opt.' + way)}"
                  for item, way in data["change_direction"].items()]
    return words
