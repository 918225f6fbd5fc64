"""Every word the operators' interface shows is in the catalogue, in Italian and in English: each
declared service's messages, the options of its forms, its refusals and its fields, every role,
every key a template names. Each check is pure, and shown to notice a word that is missing."""

from __future__ import annotations

import ast
import enum
import re
import string
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
from pydantic import BaseModel

from events.intake import ReferralStatus
from kit.runtime import PLATFORM_ROLE
from kit.service import Service, load
from services.api.commands import http_body_model
from services.api.youths import CaseStatus
from shared.roles import ROLES
from shared.web.words import BASE, MISSING, Catalogue, Translator, words_of
from tests.conftest import PLATFORM

ROOT = Path(__file__).resolve().parents[2]
Words = Mapping[str, tuple[str, str]]


@cache
def catalogue() -> dict[str, tuple[str, str]]:
    """The words the HTTP service installs: the shared ones and every declared service's."""
    return Catalogue(words_of(PLATFORM.services, load)).words


def missing(words: Words, keys: Iterable[str]) -> list[str]:
    return sorted(set(keys) - set(words))


# ---------------------------------------------------------------- what the declared services show

def commands_of(service: Service) -> list[type[BaseModel]]:
    """Every command, as partners send it and as an operator fills it in (the HTTP body: identity in
    clear instead of sealed), the platform's own scheduled ones included."""
    commands = [m for m in service.messages if m.kind == "command"]
    return [*commands, *(http_body_model(c) for c in commands)]


def models_shown(service: Service) -> list[type[BaseModel]]:
    return [*service.messages, *commands_of(service)]


def walk(annotation: typing.Any, seen: set[type]) -> Iterable[tuple[str | None, typing.Any]]:
    """(field name, Literal/enum value) of a type, through nested models, lists, unions, Annotated."""
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        yield from ((None, value) for value in typing.get_args(annotation))
    elif isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        yield from ((None, member.value) for member in annotation)
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation in seen:
            return
        seen.add(annotation)
        for name, info in annotation.model_fields.items():
            yield name, None
            yield from walk(info.annotation, seen)
    else:
        for argument in typing.get_args(annotation):
            yield from walk(argument, seen)


def option_values(models: Iterable[type[BaseModel]]) -> set[str]:
    seen: set[type] = set()
    return {str(value) for model in models for _, value in walk(model, seen)
            if value is not None and not isinstance(value, bool)}


def field_names(models: Iterable[type[BaseModel]]) -> set[str]:
    seen: set[type] = set()
    return {name for model in models for name, _ in walk(model, seen) if name is not None}


def event_keys(services: Iterable[Service] = PLATFORM.services) -> set[str]:
    return {f"event.{m.type_name}" for s in services for m in s.messages}


def option_keys(services: Iterable[Service] = PLATFORM.services) -> set[str]:
    return {f"opt.{v}" for s in services for v in option_values(models_shown(s))}


def field_keys(services: Iterable[Service] = PLATFORM.services) -> set[str]:
    return {f"field.{n}" for s in services for n in field_names(commands_of(s))}


def role_keys() -> set[str]:
    return {f"role.{r}" for r in (*ROLES, PLATFORM_ROLE)}


def status_keys() -> set[str]:
    """A case's status, as the caseload filters and shows it."""
    return {f"status.{v}" for v in typing.get_args(CaseStatus)}


def referral_status_keys() -> set[str]:
    return {f"referral_status.{v}" for v in typing.get_args(ReferralStatus)}


ALERT_KIND = re.compile(r"SELECT '([a-z_]+)'")  # each alert's query names its kind first


def kind_keys() -> set[str]:
    return {f"kind.{k}" for k in ALERT_KIND.findall((ROOT / "services/api/reads.py").read_text())}


# ---------------------------------------------------------------- the refusals the code can give

@dataclass(frozen=True)
class Refusal:
    field: str | None  # the path, placeholders as 0 (None: computed)
    code: str | None  # None: computed (e.g. passed on from pydantic, whose codes the shared words hold)


def constant(node: ast.AST | None) -> str | None:
    """A string literal, or an f-string with its placeholders as 0 (`f"{field}.recipient"` -> `0.recipient`)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "0" for v in node.values)
    return None


def refusals_in(source: str) -> list[Refusal]:
    """The refusals a module can give: `Reason(field=..., code=...)`, the decisions' shorthand
    `reason(field, code, message)`, a validator's `PydanticCustomError(code, ...)`; and the codes
    passed on from elsewhere: a sealing error (`SealError(code, ...)`) reaches the sender as
    `sealed_<code>` (services/intake/identity.py), a national id's check as the code
    `validate_national_id` returns (kit/vault.py)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
            keywords = {k.arg: k.value for k in node.keywords}
            if name in ("Reason", "reason"):
                field = keywords.get("field", node.args[0] if node.args else None)
                code = keywords.get("code", node.args[1] if len(node.args) > 1 else None)
                literal = code.value if isinstance(code, ast.Constant) and isinstance(code.value, str) else None
                found.append(Refusal(constant(field), literal))
            elif name == "PydanticCustomError" and node.args:
                found.append(Refusal(None, constant(node.args[0])))
            elif name == "SealError" and node.args and constant(node.args[0]):
                found.append(Refusal(None, f"sealed_{constant(node.args[0])}"))
        elif isinstance(node, ast.FunctionDef) and node.name == "validate_national_id":
            found += [Refusal(None, constant(r.value.elts[0])) for r in ast.walk(node)
                      if isinstance(r, ast.Return) and isinstance(r.value, ast.Tuple) and constant(r.value.elts[0])]
    return found


@cache
def refusals() -> tuple[Refusal, ...]:
    sources = sorted(p for package in ("services", "kit", "shared", "events") for p in (ROOT / package).rglob("*.py"))
    return tuple(r for path in sources for r in refusals_in(path.read_text()))


def error_keys() -> set[str]:
    return {f"error.{r.code}" for r in refusals() if r.code is not None}


def unlabelled(words: Words, paths: Iterable[str]) -> list[str]:
    """Paths a refusal names whose field has no label (as the pages name it: the last part that is
    not an index nor `data`)."""
    t = Translator(words, 0)
    return sorted({p for p in paths if t.field(p).startswith(MISSING.split("{")[0])})


# ---------------------------------------------------------------- templates, and the entries themselves

TEMPLATE_KEY = re.compile(r"(?<![\w.])t\(\s*[\"']([^\"']+)[\"']\s*[,)]")  # t("key") and t("key", n=...), not t("a." ~ x)


def template_keys(text: str) -> set[str]:
    return set(TEMPLATE_KEY.findall(text))


def templates() -> list[Path]:
    return sorted({*ROOT.glob("shared/web/templates/**/*.html"), *ROOT.glob("services/*/templates/**/*.html"),
                   *ROOT.glob("services/*/web/templates/**/*.html")})


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def bad_entries(words: Words) -> list[str]:
    """Entries without both texts, or whose texts take different {placeholders}."""
    bad = []
    for key, pair in words.items():
        if not (isinstance(pair, tuple) and len(pair) == 2 and all(isinstance(s, str) and s.strip() for s in pair)):
            bad.append(key)
            continue
        try:
            if placeholders(pair[0]) != placeholders(pair[1]):
                bad.append(key)
        except ValueError:  # an unbalanced brace
            bad.append(key)
    return bad


# ---------------------------------------------------------------- the catalogue has every word

def test_given_every_declared_service_when_the_catalogue_is_built_then_no_word_is_defined_twice_differently():
    assert len(catalogue()) > len(BASE)
    assert [s.name for s in PLATFORM.services if s.messages and not s.words] == []


def test_given_the_declared_services_when_their_messages_are_shown_then_every_message_type_has_a_sentence():
    assert missing(catalogue(), event_keys()) == []


def test_given_the_declared_services_when_a_form_or_an_event_shows_an_option_then_it_has_words():
    assert missing(catalogue(), option_keys()) == []


def test_given_the_roles_when_an_operator_s_role_is_shown_then_it_has_words():
    assert missing(catalogue(), role_keys()) == []


def test_given_the_caseload_the_referrals_and_the_alerts_when_a_status_or_kind_is_shown_then_it_has_words():
    assert {"kind.lost_contact", "kind.erasure_scheduled"} <= kind_keys(), "is the alerts' scan reading their queries?"
    assert missing(catalogue(), status_keys() | referral_status_keys() | kind_keys()) == []


def test_given_the_code_base_when_it_refuses_a_command_then_every_refusal_code_has_words():
    assert missing(catalogue(), error_keys()) == []


def test_given_the_declared_services_when_a_command_s_field_is_named_then_it_has_a_label():
    assert missing(catalogue(), field_keys()) == []


def test_given_the_code_base_when_a_refusal_names_a_field_then_the_field_has_a_label():
    assert unlabelled(catalogue(), [r.field for r in refusals() if r.field is not None]) == []


def test_given_the_templates_when_they_name_a_word_then_the_catalogue_has_it():
    found = {(str(path.relative_to(ROOT)), key) for path in templates() for key in template_keys(path.read_text())}
    assert found, "no template names a word: is the scan looking in the right folders?"
    assert sorted((path, key) for path, key in found if key not in catalogue()) == []


def test_given_the_catalogue_when_an_entry_is_read_then_both_languages_have_it_with_the_same_placeholders():
    assert bad_entries(catalogue()) == []


# ---------------------------------------------------------------- each check notices a missing word

FAMILIES = {"event": event_keys, "opt": option_keys, "field": field_keys, "role": role_keys, "error": error_keys,
            "status": status_keys, "referral_status": referral_status_keys, "kind": kind_keys}


@pytest.mark.parametrize("family", FAMILIES)
def test_given_a_catalogue_without_one_word_when_checked_then_the_check_names_it(family):
    required = FAMILIES[family]()
    assert required and all(k.startswith(f"{family}.") for k in required)
    gone = max(required & set(catalogue()))
    words = {k: v for k, v in catalogue().items() if k != gone}
    assert set(missing(words, required)) - set(missing(catalogue(), required)) == {gone}


def test_given_nested_optional_and_listed_models_when_walked_then_every_option_and_field_is_found():
    class Colour(enum.Enum):
        RED = "red"

    class Inner(BaseModel):
        shade: typing.Literal["light", "dark"]
        colour: Colour | None = None

    class Outer(BaseModel):
        kind: typing.Annotated[typing.Literal["a", "b"], "meta"]
        inners: list[Inner] = []
        maybe: Inner | None = None
        flag: typing.Literal[True] = True

    assert option_values([Outer]) == {"a", "b", "light", "dark", "red"}
    assert field_names([Outer]) == {"kind", "inners", "maybe", "flag", "shade", "colour"}


def test_given_a_module_when_scanned_then_its_refusals_are_found_and_others_calls_are_not():
    source = '''
def decide(f):
    Reason(field="data.x", code="first", message="m")
    reason("data.y", "second", "m")
    reason(f"{f}.z", code="third", message="m")
    Reason(field="", code=computed, message="m")
    Agency(code="not_a_refusal")
    raise SealError("malformed", "m")

def validate_national_id(scheme, value):
    return "bad_check", "m"
'''
    found = refusals_in(source)
    assert {r.code for r in found} == {"first", "second", "third", None, "sealed_malformed", "bad_check"}
    assert {r.field for r in found if r.field is not None} == {"data.x", "data.y", "0.z", ""}


def test_given_the_code_base_when_scanned_then_the_refusals_we_know_of_are_found():
    codes = {r.code for r in refusals()}
    assert {"consent_required", "unknown_youth", "unknown_type", "no_consent_to_share", "national_id_of_another_youth",
            "duplicate", "sealed_malformed", "invalid_checksum", "control_character"} <= codes


def test_given_a_field_without_a_label_when_a_refusal_names_it_then_it_is_reported():
    words = {**BASE, "field.known": ("Noto", "Known")}
    assert unlabelled(words, ["data.known", "data.items.3.known", "", "data", "data.unknown.0"]) == ["data.unknown.0"]


def test_given_template_text_when_scanned_then_only_literal_keys_are_taken():
    text = ('{{ t("a") }} {{ t( \'b\', n=1) }} {{ t("role." ~ r) }} {{ t("kind_" + k) }} '
            '{{ e.type.split(".")[2] }} {{ format("x") }}')
    assert template_keys(text) == {"a", "b"}


def test_given_malformed_entries_when_checked_then_each_is_reported():
    words = {"fine": ("tra {n} giorni", "in {n} days"), "empty": ("", "x"), "blank": ("x", " "),
             "one_language": ("solo",), "placeholder_lost": ("tra {n} giorni", "in a few days"),
             "brace": ("{x", "{x")}
    assert sorted(bad_entries(words)) == ["blank", "brace", "empty", "one_language", "placeholder_lost"]


# ---------------------------------------------------------------- what the access log says was read

WHAT_LITERAL = re.compile(r"""what=["']([^"'{}]+)["']""")
LIST_READS = ("youth list", "alerts", "my day")  # logged "<list>" or "<list> with names" (identity roles)


def access_log_phrases(sources: Iterable[Path]) -> set[str]:
    """The fixed `what` texts the code writes to the access log, their "with names" forms, and the
    parts the youth page joins ("<record>, youth timeline, case notes")."""
    found = {m.group(1) for path in sources for m in WHAT_LITERAL.finditer(path.read_text())}
    return found | {"case notes"} | {f"{read} with names" for read in LIST_READS} | {
        f"referrals {box}{names}" for box in ("inbox", "sent") for names in ("", " with names")}


def test_given_every_fixed_access_log_text_when_an_auditor_reads_it_then_it_is_in_words():
    sources = [p for folder in ("services", "shared") for p in (ROOT / folder).rglob("*.py")]
    phrases = access_log_phrases(sources)
    assert {"youth timeline", "audit replay: path"} <= phrases  # the scan finds them
    assert missing(catalogue(), (f"what.{p}" for p in phrases)) == []


def test_given_an_access_log_text_when_a_part_is_unknown_then_it_is_kept_as_stored():
    t = Catalogue().translator("it")
    assert t.what("youth timeline, case notes") == ("percorso del giovane, note sul caso", True)
    assert t.what("account 1234 disabled") == ("account 1234 disabled", False)
