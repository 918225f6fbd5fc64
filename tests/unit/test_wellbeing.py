"""Wellbeing questionnaires: ONS4 built in and a licensee's plug-in instrument (a made-up test one,
never licensed content), scored against the golden cases in tests/unit/golden/wellbeing/; answers
out of range refused with the item named; plug-in files checked before use."""

import dataclasses
import json
import re
from pathlib import Path

import pytest

from services.social_prescribing import wellbeing
from services.social_prescribing.wellbeing import InvalidInstruments, Scored

GOLDEN = Path(__file__).parent / "golden" / "wellbeing"
PLUGINS = GOLDEN / "test-instrument.json"
CASES = json.loads((GOLDEN / "cases.json").read_text())
CATALOGUE = wellbeing.catalogue(str(PLUGINS))


def by_name(cases):
    return pytest.mark.parametrize("case", cases, ids=[c["case"] for c in cases])


@by_name(CASES["scores"])
def test_given_the_golden_answers_then_the_scores_are_the_golden_ones(case):
    instrument = CATALOGUE[case["instrument"], case["version"]]
    scored = wellbeing.score(instrument, case["answers"])
    assert isinstance(scored, Scored)
    assert {k: v for k, v in dataclasses.asdict(scored).items() if k not in ("instrument", "version")} == case["expected"]


@by_name(CASES["refusals"])
def test_given_wrong_answers_then_each_wrong_item_is_named(case):
    reasons = wellbeing.score(CATALOGUE[case["instrument"], case["version"]], case["answers"])
    assert [[r.field, r.code] for r in reasons] == case["reasons"]
    assert all("must be" in r.message or "missing" in r.message or "has no item" in r.message for r in reasons)


@by_name(CASES["changes"])
def test_given_a_baseline_and_a_follow_up_then_the_change_is_the_golden_one(case):
    instrument = CATALOGUE[case["instrument"], case["version"]]
    before, after = (wellbeing.score(instrument, case[k]) for k in ("baseline", "follow_up"))
    assert dataclasses.asdict(wellbeing.change(instrument, before, after)) == case["expected"]


def test_a_change_across_instruments_is_refused():
    ons4 = CATALOGUE["ons4", "1"]
    other = wellbeing.score(CATALOGUE["kit-test-3", "1"], {"calm": 1, "useful": 1, "close": 1})
    mine = wellbeing.score(ons4, {"life_satisfaction": 5, "worthwhile": 5, "happiness": 5, "anxiety": 5})
    with pytest.raises(ValueError, match="within one instrument version"):
        wellbeing.change(ons4, mine, other)


def test_without_a_plugin_file_only_ons4_is_there():
    assert list(wellbeing.catalogue(None)) == [("ons4", "1")]


def test_the_out_of_range_message_does_not_repeat_the_answer():
    reasons = wellbeing.score(CATALOGUE["ons4", "1"], {"life_satisfaction": 97, "worthwhile": 1, "happiness": 1,
                                                       "anxiety": 1})
    assert "97" not in reasons[0].message and "from 0 to 10" in reasons[0].message


def plugin_with(tmp_path, change) -> Path:
    document = json.loads(PLUGINS.read_text())
    change(document["instruments"][0])
    path = tmp_path / "plugins.json"
    path.write_text(json.dumps(document))
    return path


@pytest.mark.parametrize("change, where", [
    (lambda i: i["total"]["conversion"].pop("9"), "$.instruments[0].total.conversion"),
    (lambda i: i["total"]["conversion"].update({"16": 27.0}), "$.instruments[0].total.conversion"),
    (lambda i: i["items"][1].update(minimum=5, maximum=1), "$.instruments[0].items[1].minimum"),
    (lambda i: i["items"].append(dict(i["items"][0])), "$.instruments[0].items"),
    (lambda i: i.pop("attribution"), "$.instruments[0].attribution"),
    (lambda i: i["items"][0].update(text={}), "$.instruments[0].items[0].text"),
    (lambda i: i.update(id="ons4", version="1"), "ons4 v1 is defined already"),
])
def test_given_a_broken_plugin_file_then_it_is_refused_saying_where(tmp_path, change, where):
    with pytest.raises(InvalidInstruments, match=re.escape(where)):
        wellbeing.catalogue(str(plugin_with(tmp_path, change)))
