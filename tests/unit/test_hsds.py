"""HSDS 3.0 records as the activity directory checks them: the specification's own example passes,
a record that breaks the schema is named with its place, id and JSON path, our capacity field is
checked for its own shape, and pages carry HSDS's page fields."""

import copy
import json
import uuid

import pytest

from services.social_prescribing import hsds

EXAMPLE = json.loads((hsds.HSDS_DIR / "examples" / "service_full.json").read_text())


def activity(**changes):
    return copy.deepcopy(EXAMPLE) | changes


def places(available=3, maximum=12):
    return [{"id": "cap-1", "unit": {"name": "posti"}, "available": available, "maximum": maximum,
             "updated": "2026-11-30T09:00:00Z"}]


def test_given_the_specifications_own_full_example_then_it_is_a_valid_service():
    assert hsds.problem(EXAMPLE) is None


def test_given_a_capacity_in_the_later_hsds_shape_then_the_record_still_validates_against_3_0():
    assert hsds.problem(activity(service_capacity=places())) is None


def test_given_a_status_hsds_does_not_know_then_the_record_the_path_and_the_rule_are_named():
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    found = hsds.first_invalid([activity(id=first), activity(id=second, status="paused")])
    assert (found.index, found.record_id, found.path) == (1, second, "$[1].status")
    assert "paused" in found.message
    assert str(found).startswith(f"record 2 (id {second}), at $[1].status:")


def test_given_an_id_that_is_not_a_uuid_then_it_is_refused():
    assert hsds.problem(activity(id="a")).path == "$[0].id"


def test_given_a_last_modified_that_is_not_a_date_time_then_it_is_refused():
    assert hsds.problem(activity(last_modified="31/12/2026")).path == "$[0].last_modified"


def test_given_a_nested_error_then_the_path_goes_down_to_it():
    record = activity()
    record["service_at_locations"][0]["location"]["location_type"] = "boat"
    found = hsds.first_invalid([record], root="$.contents")
    assert found.path == "$.contents[0].service_at_locations[0].location.location_type"


def test_given_a_record_without_a_name_then_it_is_refused():
    record = activity()
    del record["name"]
    assert "'name' is a required property" in hsds.problem(record).message


def test_given_more_places_available_than_the_maximum_then_the_capacity_is_refused():
    found = hsds.problem(activity(service_capacity=places(available=13, maximum=12)))
    assert found.path == "$[0].service_capacity[0].available" and "maximum" in found.message


@pytest.mark.parametrize("bad, path", [
    ({"available": -1}, "$[0].service_capacity[0].available"),
    ({"available": "3"}, "$[0].service_capacity[0].available"),
    ({"updated": "yesterday"}, "$[0].service_capacity[0].updated"),
    ({"unit": {}}, "$[0].service_capacity[0].unit"),
])
def test_given_a_malformed_capacity_then_its_field_is_named(bad, path):
    assert hsds.problem(activity(service_capacity=[places()[0] | bad])).path == path


def test_given_two_records_with_one_id_then_the_second_is_refused():
    found = hsds.first_invalid([activity(), activity()])
    assert (found.index, found.path) == (1, "$[1].id") and "record 1" in found.message


def test_given_a_file_that_is_neither_a_list_nor_a_page_then_it_says_what_it_expects():
    with pytest.raises(ValueError, match="list of services"):
        hsds.records_of({"services": []})
    assert hsds.records_of({"contents": [EXAMPLE]}) == ([EXAMPLE], "$.contents")


def test_given_pages_then_their_fields_follow_the_hsds_page():
    assert hsds.page([{"id": "x"}] * 2, total=5, number=1, per_page=2) == {
        "total_items": 5, "total_pages": 3, "page_number": 1, "size": 2, "first_page": True, "last_page": False,
        "empty": False, "contents": [{"id": "x"}] * 2}
    last = hsds.page([{"id": "x"}], total=5, number=3, per_page=2)
    assert (last["last_page"], last["first_page"], last["size"]) == (True, False, 1)
    assert hsds.page([], total=0, number=1, per_page=50) | {"contents": None} == {
        "total_items": 0, "total_pages": 0, "page_number": 1, "size": 0, "first_page": True, "last_page": True,
        "empty": True, "contents": None}


@pytest.mark.parametrize("field, value", [
    ("last_modified", "2026-13-45T10:00:00Z"),  # the shape of a date-time, not a date-time
    ("last_modified", "2026-02-30T10:00:00+01:00"),
])
def test_given_a_date_time_that_does_not_exist_then_the_record_is_refused_not_the_import_crashed(field, value):
    found = hsds.problem(activity(**{field: value}))
    assert found is not None and found.path == f"$[0].{field}"


def test_given_a_capacity_updated_at_a_time_that_does_not_exist_then_it_is_refused():
    assert hsds.problem(activity(service_capacity=[places()[0] | {"updated": "2026-11-31T09:00:00Z"}])).path == (
        "$[0].service_capacity[0].updated")


def test_given_a_lower_case_z_then_the_instant_is_read():
    assert hsds.problem(activity(last_modified="2026-11-30T09:00:00z")) is None
