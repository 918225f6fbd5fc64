"""The link workers' forms, as posted, become the service's commands: a plan's rows (the current
goals kept by their ids, the ones ticked off left out, new ones given ids), and a crafted post with
more rows than a plan holds is refused as the contract says, not a crash."""

import uuid

import pytest
from pydantic import ValidationError
from starlette.datastructures import FormData

from services.social_prescribing.pages import FormFields, _plan

YOUTH, KEPT, DROPPED = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())


def posted(*pairs) -> FormFields:
    return FormFields(FormData(list(pairs)))


def test_given_the_plan_form_then_kept_goals_keep_their_ids_dropped_ones_go_and_new_ones_get_ids():
    plan = _plan(YOUTH, posted(
        ("goal_id", KEPT), ("goal_text", "Uscire due volte a settimana"), ("goal_area", "loneliness"),
        ("goal_id", DROPPED), ("goal_text", "Trovare casa"), ("goal_area", "housing"), ("drop", DROPPED),
        ("goal_id", ""), ("goal_text", "Suonare in un gruppo"), ("goal_area", "arts_and_culture"),
        ("goal_id", ""), ("goal_text", "  "), ("goal_area", "money"),
        ("agreed_on", "2026-11-30")), operator=None)
    assert [(g.goal_id == KEPT, g.area, g.goal) for g in plan.goals] == [
        (True, "loneliness", "Uscire due volte a settimana"), (False, "arts_and_culture", "Suonare in un gruppo")]
    assert plan.goals[1].goal_id not in (KEPT, DROPPED, "")


def test_given_a_post_with_more_rows_than_a_plan_holds_then_refused_by_the_contract():
    rows = [("goal_text", f"obiettivo {n}") for n in range(100)] + [("goal_area", "money")] * 100
    with pytest.raises(ValidationError) as refused:  # not an IndexError (a 500)
        _plan(YOUTH, posted(*rows, ("agreed_on", "2026-11-30")), operator=None)
    assert [e["type"] for e in refused.value.errors()] == ["too_long"]  # at most 10 goals
