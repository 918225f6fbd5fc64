"""The activity directory on a real PostgreSQL: `kit directory import` takes a whole HSDS 3.0 file or
nothing (naming the first bad record and its JSON path), `kit directory export` gives back what was
imported, and the read-only HSDS API answers with pages and services that validate against the
specification's compiled schemas."""

import copy
import json
import uuid

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator
from psycopg_pool import ConnectionPool

from entrypoints.cli import main as kit
from services.social_prescribing import hsds
from services.social_prescribing.http import router
from shared.http import HttpState
from tests.conftest import eventually

pytestmark = pytest.mark.integration
EXAMPLE = json.loads((hsds.HSDS_DIR / "examples" / "service_full.json").read_text())
SPORT, ARTS = str(uuid.uuid4()), str(uuid.uuid4())


def activity(name: str, *, term: str, organization: str, places: int | None = None, city: str = "Milano",
             region: str = "Lombardia", days: str = "TH,FR", **changes) -> dict:
    record = copy.deepcopy(EXAMPLE) | {"id": str(uuid.uuid4()), "name": name, **changes}
    if "maximum_age" not in changes:
        del record["maximum_age"]  # open-ended unless given
    at = record["service_at_locations"][0]
    at["location"]["addresses"][0] |= {"city": city, "region": region, "state_province": region}
    at["schedules"][0]["byday"] = days
    record["schedules"] = []
    record["organization"] = record["organization"] | {"id": organization, "name": f"{name} (ente)"}
    record["attributes"] = [{"id": str(uuid.uuid4()), "link_id": record["id"], "link_type": "eligibility",
                             "link_entity": "service", "taxonomy_term_id": term}]
    if places is not None:
        record["service_capacity"] = [{"id": str(uuid.uuid4()), "service_id": record["id"], "unit": {"name": "posti"},
                                       "available": places, "maximum": 12, "updated": "2026-11-30T09:00:00Z"}]
    return record


MILAN, LUGANO = str(uuid.uuid4()), str(uuid.uuid4())
DIRECTORY = [
    activity("Calcio di strada Milano", term=SPORT, organization=MILAN, places=3, last_modified="2026-10-01T08:00:00Z",
             minimum_age=16, maximum_age=25, days="MO,WE"),
    activity("Laboratorio teatrale Lugano", term=ARTS, organization=LUGANO, places=0, city="Lugano", region="Ticino",
             last_modified="2026-11-20T08:00:00Z", minimum_age=15, maximum_age=30, days="SA"),
    activity("Corso di fotografia Milano", term=ARTS, organization=MILAN, last_modified="2026-11-25T08:00:00Z",
             minimum_age=18, days="2TU,-1FR"),
]


@pytest.fixture
def kit_env(monkeypatch, database_url, tmp_path):
    monkeypatch.setenv("KIT_DATABASE_URL", database_url)
    monkeypatch.setenv("KIT_DATA_DIR", str(tmp_path / "data"))


def imported(tmp_path, records, capsys) -> tuple[int, str]:
    path = tmp_path / f"directory-{uuid.uuid4().hex[:6]}.json"
    path.write_text(json.dumps(records))
    code = kit(["directory", "import", str(path)])
    return code, capsys.readouterr().err


def exported(capsys) -> list[dict]:
    assert kit(["directory", "export"]) == 0
    return json.loads(capsys.readouterr().out)


def test_given_a_valid_file_when_imported_then_export_gives_it_back(kit_env, tmp_path, capsys):
    assert imported(tmp_path, DIRECTORY, capsys)[0] == 0
    back = exported(capsys)
    assert sorted(back, key=lambda s: s["id"]) == sorted(DIRECTORY, key=lambda s: s["id"])
    # and the export imports again, unchanged
    assert imported(tmp_path, back, capsys)[0] == 0
    assert exported(capsys) == back


def test_given_one_bad_record_when_imported_then_nothing_is_and_the_record_is_named(kit_env, tmp_path, capsys):
    assert imported(tmp_path, DIRECTORY[:1], capsys)[0] == 0
    bad = activity("Scacchi", term=SPORT, organization=MILAN)
    bad["schedules"] = [{"id": str(uuid.uuid4()), "freq": "FORTNIGHTLY"}]
    code, error = imported(tmp_path, [DIRECTORY[1], bad, DIRECTORY[2]], capsys)
    assert code == 1
    assert f"nothing imported: record 2 (id {bad['id']}), at $[1].schedules[0].freq:" in error
    assert [s["id"] for s in exported(capsys)] == [DIRECTORY[0]["id"]]  # the good ones of that file neither


def test_given_a_file_that_is_not_json_then_it_says_so_and_imports_nothing(kit_env, tmp_path, capsys):
    path = tmp_path / "broken.json"
    path.write_text('[{"id": ')
    assert kit(["directory", "import", str(path)]) == 1
    assert "is not JSON" in capsys.readouterr().err
    assert exported(capsys) == []


@pytest.fixture
def hsds_api(kit_env, database_url, tmp_path, capsys):
    assert imported(tmp_path, DIRECTORY, capsys)[0] == 0
    pool = ConnectionPool(database_url, min_size=1, max_size=2, open=True)
    app = FastAPI()
    app.state.kit = HttpState(pool=pool, secret="", register=None, platform=None, settings=None, extras={})
    app.include_router(router)
    yield TestClient(app)
    pool.close()


SERVICE = Draft202012Validator(hsds.schema("compiled/service.json"))
LISTED = Draft202012Validator(hsds.schema("compiled/service_list.json"))
PAGE_FIELDS = {"total_items", "total_pages", "page_number", "size", "first_page", "last_page", "empty", "contents"}


def names(page: dict) -> list[str]:
    assert set(page) == PAGE_FIELDS
    for item in page["contents"]:
        LISTED.validate(item)
    return [s["name"] for s in page["contents"]]


def test_the_api_says_its_version_profile_and_openapi(hsds_api):
    about = hsds_api.get("/hsds/").json()
    assert about["version"] == "3.0" and about["profile"].startswith("https://")
    assert hsds_api.get(about["openapi_url"]).json()["openapi"].startswith("3.1")


def test_services_page_by_page_by_name(hsds_api):
    first = hsds_api.get("/hsds/services", params={"per_page": 2}).json()
    assert names(first) == ["Calcio di strada Milano", "Corso di fotografia Milano"]
    assert (first["total_items"], first["total_pages"], first["first_page"], first["last_page"]) == (3, 2, True, False)
    second = hsds_api.get("/hsds/services", params={"per_page": 2, "page": 2}).json()
    assert names(second) == ["Laboratorio teatrale Lugano"] and second["last_page"] and second["size"] == 1
    beyond = hsds_api.get("/hsds/services", params={"per_page": 2, "page": 3}).json()
    assert beyond["empty"] and beyond["total_items"] == 3


@pytest.mark.parametrize("params, expected", [
    ({"search": "milano"}, ["Calcio di strada Milano", "Corso di fotografia Milano"]),
    ({"search": "TEATRALE"}, ["Laboratorio teatrale Lugano"]),
    ({"taxonomy_term_id": ARTS}, ["Corso di fotografia Milano", "Laboratorio teatrale Lugano"]),
    ({"organization_id": LUGANO}, ["Laboratorio teatrale Lugano"]),
    ({"modified_after": "2026-11-20T08:00:00Z"}, ["Corso di fotografia Milano", "Laboratorio teatrale Lugano"]),
    ({"search": "milano", "taxonomy_term_id": SPORT}, ["Calcio di strada Milano"]),
    # what a link worker looks for: where, for whom, when, with a place free
    ({"territory": "ticino"}, ["Laboratorio teatrale Lugano"]),
    ({"territory": "Milano"}, ["Calcio di strada Milano", "Corso di fotografia Milano"]),
    ({"age": 16}, ["Calcio di strada Milano", "Laboratorio teatrale Lugano"]),
    ({"age": 29}, ["Corso di fotografia Milano", "Laboratorio teatrale Lugano"]),
    ({"day": "FR"}, ["Corso di fotografia Milano"]),
    ({"day": "TU"}, ["Corso di fotografia Milano"]),
    ({"day": "WE"}, ["Calcio di strada Milano"]),
    ({"free_places": "true"}, ["Calcio di strada Milano"]),
    ({"free_places": "true", "age": 15}, []),
])
def test_services_are_searched(hsds_api, params, expected):
    assert names(hsds_api.get("/hsds/services", params=params).json()) == expected


def test_one_service_is_fully_nested_with_its_free_places(hsds_api):
    wanted = DIRECTORY[1]
    found = hsds_api.get(f"/hsds/services/{wanted['id']}").json()
    SERVICE.validate(found)
    assert found == wanted and found["service_capacity"][0]["available"] == 0


@pytest.mark.parametrize("path, status", [
    (f"/hsds/services/{uuid.uuid4()}", 404),
    ("/hsds/services?per_page=1000", 422),
    ("/hsds/services?page=0", 422),
    ("/hsds/services?modified_after=yesterday", 422),
    ("/hsds/services?modified_after=2026-11-20T08:00:00", 422),
    ("/hsds/services?day=monday", 422),
    # what the database cannot take is refused before it gets there (a fuzzer found these as 500s)
    ("/hsds/services?search=a%00b", 422),
    ("/hsds/services?territory=%00", 422),
    ("/hsds/services?taxonomy_term_id=%00", 422),
    ("/hsds/services?organization_id=%01", 422),
    ("/hsds/services/a%00b", 422),
    ("/hsds/services?age=-1", 422),
])
def test_bad_requests_get_a_clear_refusal(hsds_api, path, status):
    response = hsds_api.get(path)
    assert response.status_code == status and response.json()["detail"]


async def test_in_the_http_service_the_directorys_refusals_are_json_for_machines(platform, database_url):
    """An HSDS client gets JSON it can act on (the API's documented 422 with reasons, a 404 with
    a detail), not the operators' HTML pages."""
    import httpx

    from tests.integration.harness import running, services

    settings = platform.settings
    async with running(*services(settings, "social_prescribing", "api")):
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.http_port}", timeout=30) as client:
            async def up():
                try:
                    return (await client.get("/hsds/services")).status_code == 200
                except httpx.HTTPError:
                    return False
            await eventually(up, timeout=30)
            empty = (await client.get("/hsds/services")).json()
            bad_day = await client.get("/hsds/services", params={"day": "monday"})
            naive = await client.get("/hsds/services", params={"modified_after": "2026-11-20T08:00:00"})
            missing = await client.get(f"/hsds/services/{uuid.uuid4()}")
    assert empty["total_items"] == 0 and empty["empty"]  # the service made its tables: the API answers at once
    for response, field in ((bad_day, "query.day"), (naive, "query.modified_after")):
        assert response.status_code == 422 and response.headers["content-type"] == "application/json"
        assert [r["field"] for r in response.json()["reasons"]] == [field]
    assert missing.status_code == 404 and "no service" in missing.json()["detail"]
