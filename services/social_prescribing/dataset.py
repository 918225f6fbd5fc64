"""A youth's social prescribing record as a minimum dataset, in the four parts of the NHS Social
Prescribing Information Standard: who (pseudonymous), needs and concerns, support offered
(activities referred to, started, completed), outcomes. Pure: folded from the youth's path as an
operator may read it (withheld entries stay withheld)."""

from __future__ import annotations

from typing import Any

from events import social_prescribing as sp

STANDARD = "NHS Social Prescribing Information Standard (minimum dataset, four parts)"


def _day(value: Any) -> str | None:
    return str(value)[:10] if value else None


def minimum_dataset(youth_id: str, path: list[dict[str, Any]]) -> dict[str, Any]:
    """`path`: the youth's timeline entries (type, data, happened_at, withheld), oldest first."""
    who: dict[str, Any] = {"youth_pseudonym": youth_id}
    needs: dict[str, Any] = {"referral_reason": None, "what_matters_conversations": 0, "areas": []}
    goals: dict[str, dict[str, Any]] = {}
    activities: dict[str, dict[str, Any]] = {}
    wellbeing: dict[tuple[str, str], dict[str, Any]] = {}
    withheld = 0
    contacts = {"recorded": 0, "reached": 0}
    for entry in path:
        kind, data = entry["type"], entry.get("data") or {}
        if not kind.startswith("kit.social_prescribing."):
            continue
        if entry.get("withheld"):
            withheld += 1
            continue
        if kind == sp.SocialPrescribingReferralReceived.type_name:  # a new referral: its answer is to come
            for answered in ("referral_status", "link_worker", "declined_because"):
                who.pop(answered, None)
            who |= {"referral_id": data["referral_id"], "birth_year": data["birth_year"], "referred_by": data["from_agency"],
                    "social_prescribing_agency": data["to_agency"], "referred_on": _day(entry.get("happened_at"))}
            needs["referral_reason"] = data["reason"]
        elif kind == sp.SocialPrescribingReferralAccepted.type_name:
            who |= {"referral_status": "accepted", "link_worker": data["link_worker"]}
        elif kind == sp.SocialPrescribingReferralDeclined.type_name:
            who |= {"referral_status": "declined", "declined_because": data["reason"]}
        elif kind == sp.ActivityPrescribed.type_name:
            activities[data["prescription_id"]] = {
                "prescription_id": data["prescription_id"], "activity_id": data["activity_id"], "prescribed_on": _day(entry.get("happened_at")),
                "placed": data["placed"], "waitlist_position": data.get("waitlist_position"),
                "started_on": None, "sessions_attended": 0, "sessions_recorded": 0, "ending": None, "ended_on": None}
        elif kind == sp.AttendanceRecorded.type_name and data["prescription_id"] in activities:
            activity = activities[data["prescription_id"]]
            activity["sessions_recorded"] += 1
            if data["present"]:
                activity["sessions_attended"] += 1
                activity["started_on"] = min(filter(None, [activity["started_on"], _day(data["session_on"])]))
            if data.get("first_attendance") and data.get("days_from_referral") is not None:
                who["days_from_referral_to_first_activity"] = data["days_from_referral"]
        elif kind == sp.WaitlistPlaceGiven.type_name and data["prescription_id"] in activities:
            activities[data["prescription_id"]] |= {"placed": True, "waitlist_position": None}
        elif kind == sp.PrescriptionEnded.type_name and data["prescription_id"] in activities:
            activities[data["prescription_id"]] |= {"ending": data["ending"], "ended_on": _day(entry.get("happened_at")),
                                                    "ending_reason": data.get("reason")}
        elif kind == sp.WhatMattersRecorded.type_name:  # the areas only: the youth's words stay in the vault
            needs["what_matters_conversations"] += 1
            needs["areas"] = list(dict.fromkeys([*needs["areas"], *data["needs"]]))
        elif kind == sp.PlanAgreed.type_name:
            goals = {g["goal_id"]: {"goal_id": g["goal_id"], "area": g["area"],
                                    "progress": goals.get(g["goal_id"], {}).get("progress", "not_started")}
                     for g in data["goals"]}
        elif kind == sp.GoalReviewed.type_name and data["goal_id"] in goals:
            goals[data["goal_id"]]["progress"] = data["progress"]
        elif kind == sp.LinkWorkerContactRecorded.type_name:
            contacts["recorded"] += 1
            contacts["reached"] += data["outcome"] == "reached"
        elif kind == sp.WellbeingRecorded.type_name:
            measure = wellbeing.setdefault((data["instrument"], data["version"]), {
                "instrument": data["instrument"], "version": data["version"], "baseline": None, "latest": None})
            taken = {"taken_on": _day(data["taken_on"]), "answers": data["answers"], "bands": data.get("bands"),
                     "total": data.get("total")}
            if data["occasion"] == "baseline":
                measure["baseline"] = taken
            else:
                measure["latest"] = taken | {"change": data.get("change"), "direction": data.get("change_direction"),
                                             "total_change": data.get("total_change")}
    offered = list(activities.values())
    return {
        "standard": STANDARD,
        "youth_id": youth_id,
        "who": who,
        "needs_and_concerns": needs,
        "support_offered": {
            "activities_referred_to": len(offered),
            "activities_started": sum(1 for a in offered if a["started_on"]),
            "activities_completed": sum(1 for a in offered if a["ending"] == "completed"),
            "link_worker_contacts": contacts,
            "activities": offered,
        },
        "outcomes": {
            "days_from_referral_to_first_activity": who.pop("days_from_referral_to_first_activity", None),
            "dropped_out": sum(1 for a in offered if a["ending"] == "dropped_out"),
            "goals": list(goals.values()),
            "goals_achieved": sum(1 for g in goals.values() if g["progress"] == "achieved"),
            "wellbeing": list(wellbeing.values()),
            "withheld_entries": withheld,  # special-category entries the reader's role may not see
        },
    }
