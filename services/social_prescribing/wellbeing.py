"""Wellbeing questionnaires: versioned instruments, scoring, and the change between two answers.

ONS4 (the UK Office for National Statistics' four personal well-being questions, 0-10, free to use
with attribution) is built in. Licensed instruments (SWEMWBS with its raw-to-metric conversion
table, Outcomes Star) are never shipped: the licensee supplies a file that defines them
(`KIT_WELLBEING_INSTRUMENTS`, format in docs/social-prescribing.md), loaded and checked here.

Pure: an answer set is scored or refused with reasons naming the item; nothing here stores."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from events.receipts import Reason


@dataclass(frozen=True)
class Band:
    """A named range of an item's answers (ONS's thresholds, say): `low` for 0-4."""

    code: str
    minimum: int
    maximum: int


@dataclass(frozen=True)
class Item:
    id: str
    text: Mapping[str, str]  # language -> the question as asked
    minimum: int
    maximum: int
    lower_is_better: bool = False  # anxiety: a fall is an improvement
    bands: tuple[Band, ...] = ()

    def band(self, answer: int) -> str | None:
        return next((b.code for b in self.bands if b.minimum <= answer <= b.maximum), None)


@dataclass(frozen=True)
class Total:
    """An instrument scored as one number: the sum of its items (`raw`), converted through a table
    when the instrument has one (SWEMWBS: raw 7-35 -> metric)."""

    conversion: Mapping[int, float] | None = None
    lower_is_better: bool = False


@dataclass(frozen=True)
class Instrument:
    id: str
    version: str
    title: Mapping[str, str]
    attribution: str
    items: tuple[Item, ...]
    total: Total | None = None  # None: each item is reported on its own (ONS4)
    minimum_age: int | None = None  # the youngest age it is validated for

    @property
    def key(self) -> tuple[str, str]:
        return self.id, self.version


@dataclass(frozen=True)
class Scored:
    instrument: str
    version: str
    answers: Mapping[str, int]
    bands: Mapping[str, str] = field(default_factory=dict)
    raw_total: int | None = None
    total: float | None = None  # the converted score where there is a table, else the raw total


@dataclass(frozen=True)
class Change:
    """From a baseline to a follow-up: each item's difference and whether it is better, worse or the same."""

    items: Mapping[str, int]
    direction: Mapping[str, str]  # item -> improved | worsened | no_change
    total: float | None = None
    total_direction: str | None = None


def _direction(delta: float, lower_is_better: bool) -> str:
    if delta == 0:
        return "no_change"
    return "improved" if (delta < 0) == lower_is_better else "worsened"


def score(instrument: Instrument, answers: Mapping[str, Any]) -> Scored | list[Reason]:
    """Every item answered, with a whole number in its range, and no other: the score; else one
    reason per wrong item, naming it (never repeating the answer given)."""
    reasons = []
    known = {item.id for item in instrument.items}
    for name in answers:
        if name not in known:
            reasons.append(Reason(field=f"data.answers.{name}", code="unknown_item",
                                  message=f"{instrument.id} v{instrument.version} has no item {name!r};"
                                          f" its items are {', '.join(sorted(known))}"))
    for item in instrument.items:
        where = f"data.answers.{item.id}"
        rule = f"a whole number from {item.minimum} to {item.maximum}"
        if item.id not in answers:
            reasons.append(Reason(field=where, code="missing", message=f"the answer to {item.id} is missing ({rule})"))
            continue
        value = answers[item.id]
        if isinstance(value, bool) or not isinstance(value, int):
            reasons.append(Reason(field=where, code="int_type", message=f"the answer to {item.id} must be {rule}"))
        elif not item.minimum <= value <= item.maximum:
            reasons.append(Reason(field=where, code="answer_out_of_range",
                                  message=f"the answer to {item.id} must be {rule}"))
    if reasons:
        return reasons
    given = {item.id: int(answers[item.id]) for item in instrument.items}
    bands = {item.id: band for item in instrument.items if (band := item.band(given[item.id])) is not None}
    if instrument.total is None:
        return Scored(instrument.id, instrument.version, given, bands)
    raw = sum(given.values())
    converted = instrument.total.conversion[raw] if instrument.total.conversion else raw
    return Scored(instrument.id, instrument.version, given, bands, raw_total=raw, total=converted)


def change(instrument: Instrument, baseline: Scored, follow_up: Scored) -> Change:
    """The change between two scorings of the same instrument and version (another version may
    ask other questions: comparing them would mislead)."""
    for scored in (baseline, follow_up):
        if (scored.instrument, scored.version) != instrument.key:
            raise ValueError(f"a change is measured within one instrument version: {instrument.id} v{instrument.version},"
                             f" not {scored.instrument} v{scored.version}")
    deltas = {item.id: follow_up.answers[item.id] - baseline.answers[item.id] for item in instrument.items}
    directions = {item.id: _direction(deltas[item.id], item.lower_is_better) for item in instrument.items}
    if instrument.total is None or baseline.total is None or follow_up.total is None:
        return Change(deltas, directions)
    total = round(follow_up.total - baseline.total, 2)
    return Change(deltas, directions, total, _direction(total, instrument.total.lower_is_better))


# ---------------------------------------------------------------- ONS4, built in

POSITIVE_BANDS = (Band("low", 0, 4), Band("medium", 5, 6), Band("high", 7, 8), Band("very_high", 9, 10))
ANXIETY_BANDS = (Band("very_low", 0, 1), Band("low", 2, 3), Band("medium", 4, 5), Band("high", 6, 10))

ONS4 = Instrument(
    id="ons4", version="1",
    title={"it": "Benessere personale (ONS4)", "en": "Personal well-being (ONS4)"},
    attribution="ONS4 personal well-being questions: Office for National Statistics, Open Government Licence v3.0"
                " (Italian wording: this project's translation)",
    items=(
        Item("life_satisfaction", {"it": "Nel complesso, quanto sei soddisfatto/a della tua vita in questo periodo?",
                                   "en": "Overall, how satisfied are you with your life nowadays?"},
             0, 10, bands=POSITIVE_BANDS),
        Item("worthwhile", {"it": "Nel complesso, quanto senti che le cose che fai nella tua vita valgono la pena?",
                            "en": "Overall, to what extent do you feel that the things you do in your life are"
                                  " worthwhile?"},
             0, 10, bands=POSITIVE_BANDS),
        Item("happiness", {"it": "Nel complesso, quanto ti sei sentito/a felice ieri?",
                           "en": "Overall, how happy did you feel yesterday?"},
             0, 10, bands=POSITIVE_BANDS),
        Item("anxiety", {"it": "Nel complesso, quanto ti sei sentito/a ansioso/a ieri?",
                         "en": "Overall, how anxious did you feel yesterday?"},
             0, 10, lower_is_better=True, bands=ANXIETY_BANDS),
    ),
)
BUILT_IN = (ONS4,)


# ---------------------------------------------------------------- plug-ins from the licensee's file

class InvalidInstruments(ValueError):
    """A plug-in file that cannot be used, with where (a JSON path) and why."""


def _need(condition: bool, where: str, why: str) -> None:
    if not condition:
        raise InvalidInstruments(f"{where}: {why}")


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _text(value: Any, where: str) -> dict[str, str]:
    _need(isinstance(value, dict) and value and all(isinstance(k, str) and isinstance(v, str) and v
                                                    for k, v in value.items()),
          where, "a text per language, e.g. {\"it\": \"…\", \"en\": \"…\"}")
    return dict(value)


def _item(raw: Any, where: str) -> Item:
    _need(isinstance(raw, dict), where, "an item is an object")
    _need(isinstance(raw.get("id"), str) and raw["id"].isidentifier(), f"{where}.id", "a name of letters, digits and _")
    _need(_whole(raw.get("minimum")) and _whole(raw.get("maximum")) and raw["minimum"] < raw["maximum"],
          f"{where}.minimum", "whole numbers minimum < maximum")
    bands = []
    for i, band in enumerate(raw.get("bands") or []):
        at = f"{where}.bands[{i}]"
        _need(isinstance(band, dict) and isinstance(band.get("code"), str) and _whole(band.get("minimum"))
              and _whole(band.get("maximum")) and raw["minimum"] <= band["minimum"] <= band["maximum"] <= raw["maximum"],
              at, "a band has a code and a range inside the item's")
        bands.append(Band(band["code"], band["minimum"], band["maximum"]))
    return Item(raw["id"], _text(raw.get("text"), f"{where}.text"), raw["minimum"], raw["maximum"],
                bool(raw.get("lower_is_better", False)), tuple(bands))


def _instrument(raw: Any, where: str) -> Instrument:
    _need(isinstance(raw, dict), where, "an instrument is an object")
    for key in ("id", "version", "attribution"):
        _need(isinstance(raw.get(key), str) and raw[key], f"{where}.{key}", "required text")
    _need(isinstance(raw.get("items"), list) and raw["items"], f"{where}.items", "at least one item")
    items = tuple(_item(item, f"{where}.items[{i}]") for i, item in enumerate(raw["items"]))
    ids = [item.id for item in items]
    _need(len(set(ids)) == len(ids), f"{where}.items", "item ids are unique")
    age = raw.get("minimum_age")
    _need(age is None or _whole(age), f"{where}.minimum_age", "a whole number of years")
    total = None
    if raw.get("total") is not None:
        spec = raw["total"]
        _need(isinstance(spec, dict), f"{where}.total", "an object")
        conversion = None
        if spec.get("conversion") is not None:
            table = spec["conversion"]
            low, high = sum(i.minimum for i in items), sum(i.maximum for i in items)
            _need(isinstance(table, dict) and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                  for v in table.values()),
                  f"{where}.total.conversion", "an object of raw total -> converted score")
            missing = [raw_total for raw_total in range(low, high + 1) if str(raw_total) not in table]
            _need(not missing, f"{where}.total.conversion",
                  f"every raw total from {low} to {high} needs its converted score (missing: {missing[:5]})")
            extra = sorted(k for k in table if not (k.lstrip("-").isdigit() and low <= int(k) <= high))
            _need(not extra, f"{where}.total.conversion", f"raw totals outside {low}-{high}: {extra[:5]}")
            conversion = {int(k): float(v) for k, v in table.items()}
        total = Total(conversion, bool(spec.get("lower_is_better", False)))
    return Instrument(raw["id"], raw["version"], _text(raw.get("title"), f"{where}.title"), raw["attribution"],
                      items, total, age)


def load_plugins(path: Path) -> tuple[Instrument, ...]:
    """The instruments a licensee's file defines: `{"instruments": [...]}`."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InvalidInstruments(f"{path}: cannot read it as JSON ({e})") from None
    _need(isinstance(document, dict) and isinstance(document.get("instruments"), list), "$",
          "a file of instruments is {\"instruments\": [...]}")
    return tuple(_instrument(raw, f"$.instruments[{i}]") for i, raw in enumerate(document["instruments"]))


def catalogue(plugins_file: str | None = None) -> dict[tuple[str, str], Instrument]:
    """ONS4 and the plug-ins of the licensee's file (if one is configured), by (id, version); a
    plug-in may not redefine an instrument version already there."""
    found = {instrument.key: instrument for instrument in BUILT_IN}
    for instrument in load_plugins(Path(plugins_file)) if plugins_file else ():
        if instrument.key in found:
            raise InvalidInstruments(f"{plugins_file}: {instrument.id} v{instrument.version} is defined already")
        found[instrument.key] = instrument
    return found
