"""contracts/ matches events/, validates with real validators, and catches breaking changes."""

import copy
import json
import shutil
from pathlib import Path

import jsonschema
import pytest

from events.base import Message
from events.builders import example
from events.envelope import TYPE_PATTERN, CloudEvent
from kit import contracts
from tests import asyncapi_schema
from tests.conftest import PLATFORM

REGISTRY = PLATFORM.registry
MODELS = tuple(REGISTRY.values())


@pytest.fixture(scope="module")
def asyncapi_3_schema() -> dict:
    return asyncapi_schema.load()


@pytest.fixture
def contracts_copy(tmp_path: Path) -> Path:
    shutil.copytree(contracts.CONTRACTS_DIR, tmp_path / "contracts")
    return tmp_path / "contracts"


def test_checked_in_contracts_match_the_code():
    assert contracts.check(PLATFORM) == []


def test_every_model_is_frozen_forbids_extra_fields_and_has_a_versioned_type():
    import re

    for model in MODELS:
        assert issubclass(model, Message)
        assert model.model_config["frozen"] and model.model_config["extra"] == "forbid"
        assert re.fullmatch(TYPE_PATTERN, model.type_name), model.type_name


def test_each_example_is_a_full_cloudevent_whose_data_validates_against_its_schema():
    for type_name in REGISTRY:
        document = json.loads((contracts.CONTRACTS_DIR / "examples" / f"{type_name}.json").read_text())
        CloudEvent.model_validate(document)
        schema = json.loads((contracts.CONTRACTS_DIR / "schemas" / f"{type_name}.json").read_text())
        jsonschema.Draft202012Validator(schema).validate(document["data"])
        envelope_schema = json.loads((contracts.CONTRACTS_DIR / "cloudevent.schema.json").read_text())
        jsonschema.Draft202012Validator(envelope_schema).validate(document)


def test_the_asyncapi_document_is_valid_asyncapi_3(asyncapi_3_schema):
    document = json.loads((contracts.CONTRACTS_DIR / "asyncapi.json").read_text())
    jsonschema.Draft7Validator(asyncapi_3_schema).validate(document)
    addresses = {c["address"] for c in document["channels"].values()}
    assert {"kit.ingest.{agency}", "kit.receipts.{agency}", "kit.dlq.{consumer}.{sequence}",
            "kit.events.intake.youth_registered.v1"} <= addresses


def test_the_validator_rejects_a_broken_asyncapi_document(asyncapi_3_schema):
    document = json.loads((contracts.CONTRACTS_DIR / "asyncapi.json").read_text())
    broken = copy.deepcopy(document)
    broken["operations"]["sendReceipts"]["action"] = "publish"  # AsyncAPI 2 vocabulary
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(asyncapi_3_schema).validate(broken)


def test_check_fails_after_a_property_is_deleted_from_a_checked_in_schema(contracts_copy: Path):
    path = contracts_copy / "schemas" / "kit.intake.register_youth.v1.json"
    schema = json.loads(path.read_text())
    del schema["properties"]["birth_year"]
    schema["required"].remove("birth_year")
    path.write_text(json.dumps(schema, indent=2))
    problems = contracts.check(PLATFORM, contracts_copy)
    assert any("register_youth.v1.json: differs" in p for p in problems)
    assert any("new required field 'birth_year'" in p for p in problems)


def test_check_fails_when_a_published_version_is_removed(contracts_copy: Path):
    (contracts_copy / "schemas" / "kit.intake.register_youth.v0.json").write_text('{"properties": {}}')
    assert any("version removed" in p for p in contracts.check(PLATFORM, contracts_copy))


def test_generate_restores_what_check_complains_about(contracts_copy: Path):
    (contracts_copy / "asyncapi.json").write_text("{}")
    assert contracts.check(PLATFORM, contracts_copy)
    contracts.generate(PLATFORM, contracts_copy)
    assert contracts.check(PLATFORM, contracts_copy) == []


OLD = {"properties": {"a": {"type": "integer"}, "b": {"type": "string", "description": "x"}}, "required": ["a"]}


@pytest.mark.parametrize("new, expected", [
    ({"properties": {"a": {"type": "integer"}}, "required": ["a"]}, ["incompatible: field 'b' removed"]),
    ({"properties": {"a": {"type": "string"}, "b": {"type": "string"}}, "required": ["a"]},
     ["incompatible: field 'a' retyped or constrained differently"]),
    ({"properties": {**OLD["properties"], "c": {"type": "string"}}, "required": ["a", "c"]},
     ["incompatible: new required field 'c'"]),
    ({"properties": {**OLD["properties"], "c": {"type": "string"}}, "required": ["a"]}, []),
    ({"properties": {"a": {"type": "integer"}, "b": {"type": "string", "description": "better words"}},
      "required": ["a"]}, []),
])
def test_incompatibilities(new, expected):
    assert contracts.incompatibilities(OLD, new) == expected


def test_examples_are_deterministic():
    for type_name in REGISTRY:
        assert example(type_name) == example(type_name)
