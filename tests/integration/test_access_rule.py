"""The list query (SQL) and the record check (the pure rule over the same rows) agree for any mix
of consents and overrides: an agency never finds in its list a youth it could not open, or the
reverse."""

import uuid
from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kit.db import ensure_schema
from projections.access import CASELOAD_ROW_SQL, CASELOAD_ROWS_SQL, VISIBLE_ROW_SQL, VISIBLE_SQL, may_access_youth
from projections.youth_directory import YouthDirectory

pytestmark = pytest.mark.integration
T0 = datetime(2026, 11, 1, tzinfo=timezone.utc)
AGENCIES = {"comune-milano-m7": "municipal_youth_service", "afol-milano": "employment_service",
            "ngo-lugano": "ngo"}
YOUTHS = [str(uuid.UUID(int=i + 1)) for i in range(3)]

days = st.integers(min_value=-5, max_value=5).map(lambda d: T0 + timedelta(days=d))
consents = st.lists(st.tuples(
    st.sampled_from(YOUTHS), st.sampled_from(["case_management", "sharing", "family_contact"]),
    st.sampled_from([*AGENCIES, "category:employment_service", "category:ngo"]), days,
    st.none() | st.integers(1, 6), st.none() | st.integers(0, 6), st.none() | st.integers(0, 6)), max_size=8)
overrides = st.lists(st.tuples(st.sampled_from(YOUTHS), st.sampled_from(list(AGENCIES)),
                               st.sampled_from(["case_management", "sharing"]), days, st.integers(1, 6)), max_size=3)


@pytest.fixture(scope="module")
def conn(postgres_server):
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server.url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    url = postgres_server.url.replace("/postgres?", f"/{name}?")
    ensure_schema(url, "views")
    with psycopg.connect(url, autocommit=True) as connection:
        YouthDirectory().create_tables(connection)
        yield connection


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(consents=consents, overrides=overrides, merged=st.sets(st.sampled_from(YOUTHS), max_size=1),
       involved=st.sets(st.sampled_from(YOUTHS)), at=days, agency=st.sampled_from(list(AGENCIES)))
def test_the_list_and_the_record_check_agree(conn, consents, overrides, merged, involved, at, agency):
    conn.execute("TRUNCATE views.youths, views.consents, views.consent_overrides, views.youth_agencies")
    for youth in YOUTHS:
        conn.execute("INSERT INTO views.youths (youth_id, registering_agency, partner_case_ref, birth_year, country,"
                     " region, registered_at, source_seq, merged_into) VALUES (%s, 'x', 'c', 2005, 'IT', 'IT-25', %s, 1, %s)",
                     (youth, T0, YOUTHS[0] if youth in merged and youth != YOUTHS[0] else None))
    for i, (youth, purpose, recipient, given_at, expires, withdrawn, invalidated) in enumerate(consents):
        conn.execute("INSERT INTO views.consents VALUES (%s, %s, %s, %s, 'consent', 'youth', '2026-1', %s, %s, %s, %s, 'x',"
                     " %s)",
                     (youth, uuid.UUID(int=i + 100), purpose, recipient, given_at,
                      *(None if d is None else given_at + timedelta(days=d) for d in (expires, withdrawn, invalidated)),
                      T0))
    for i, (youth, who, purpose, from_, length) in enumerate(overrides):
        conn.execute("INSERT INTO views.consent_overrides VALUES (%s, %s, %s, 'reason', %s, %s, 'x', 'supervisor', %s)",
                     (youth, who, purpose, from_, from_ + timedelta(days=length), i + 1))
    listed = {str(r[0]) for r in conn.execute(
        f"SELECT youth_id FROM views.youths y WHERE {VISIBLE_SQL}",
        {"agency": agency, "category": f"category:{AGENCIES[agency]}", "at": at})}
    for youth in involved:
        conn.execute("INSERT INTO views.youth_agencies VALUES (%s, %s, 'lead')", (youth, agency))
    probed = {str(r[0]) for r in conn.execute(
        f"SELECT youth_id FROM views.youths y WHERE {VISIBLE_ROW_SQL}",
        {"agency": agency, "category": f"category:{AGENCIES[agency]}", "at": at})}
    opened = {y for y in YOUTHS if may_access_youth(conn, y, agency=agency, agency_category=AGENCIES[agency], at=at)}
    assert listed == opened == probed
    # the caseload: involved (agency rows, or named in any consent) and may open now
    named = {youth for youth, _, recipient, *_ in consents if recipient == agency}
    caseload = {str(r[0]) for r in conn.execute(
        f"SELECT youth_id FROM ({CASELOAD_ROWS_SQL}) c",
        {"agency": agency, "category": f"category:{AGENCIES[agency]}", "at": at})}
    assert caseload == opened & (involved | named)
    probed_caseload = {str(r[0]) for r in conn.execute(
        f"SELECT youth_id FROM views.youths y WHERE {CASELOAD_ROW_SQL}",
        {"agency": agency, "category": f"category:{AGENCIES[agency]}", "at": at})}
    assert probed_caseload == caseload
