"""When the intake scheduler looks: right after start (again soon while its watch list is not
there yet), then on schedule; and a youth whose history arrives already past the lost-contact
threshold is flagged within seconds, not at the next interval. On the real intake store."""

import asyncio
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from events.builders import register_youth
from kit.log_views import apply_next_page, create_positions_table, run_log_view
from kit.runtime import Incoming
from services.intake.scheduled import Watchlist, run_schedule
from services.intake.store import SCHEMA
from tests.conftest import eventually
from tests.integration.test_intake_store import AGENCY, NOW, intake  # noqa: F401 - the fixture

pytestmark = pytest.mark.integration
HOUR = 3600.0  # an interval no test waits for


def a_month_on() -> datetime:
    """The scheduler's clock: 31 days from now, past the policy's 30 days for any youth registered now."""
    return datetime.now(timezone.utc) + timedelta(days=31)


def register(intake) -> str:
    [(receipt, _)] = intake.runtime.handle([Incoming(AGENCY, register_youth(AGENCY).to_json_bytes(), 1)], NOW)
    assert receipt["status"] == "accepted", receipt
    return receipt["subject"]


async def test_a_youth_whose_history_arrives_already_due_is_flagged_within_seconds(intake, database_url):
    """Given the scheduler running with its first scan done (nothing to flag), when a youth's
    history arrives already past the threshold, then the alert is recorded within seconds although
    the next scan is an hour away."""
    stop = asyncio.Event()
    watchlist = Watchlist(intake.store, 30, clock=a_month_on)
    tasks = [asyncio.create_task(run_log_view(intake.store, database_url, SCHEMA, watchlist, stop, idle=0.1)),
             asyncio.create_task(run_schedule(intake.runtime, database_url, 30, HOUR, stop, watchlist=watchlist,
                                              tick=0.1, clock=a_month_on))]
    try:
        await asyncio.sleep(0.5)  # the scan at start has run
        youth = await asyncio.to_thread(register, intake)
        await eventually(lambda: intake.state(youth).lost_contact, timeout=10)
    finally:
        stop.set()
        await asyncio.gather(*tasks)


async def test_the_first_scan_is_tried_again_soon_while_the_watch_list_is_not_there(intake, database_url):
    """Given a youth already due and no watch list yet (the scan at start finds no table), when the
    watch list is created a moment later, then the scan runs again within seconds and flags the
    youth, not after the interval."""
    youth = await asyncio.to_thread(register, intake)
    stop = asyncio.Event()
    task = asyncio.create_task(run_schedule(intake.runtime, database_url, 30, HOUR, stop, retry=0.2,
                                            clock=a_month_on))
    try:
        await asyncio.sleep(0.5)  # the scan at start found no watch list
        assert not intake.state(youth).lost_contact

        def create_watch_list() -> None:
            view = Watchlist(intake.store)
            with psycopg.connect(database_url) as conn:
                with conn.transaction():
                    create_positions_table(conn, SCHEMA)
                    view.create_tables(conn)
                while apply_next_page(conn, intake.store, SCHEMA, view):
                    pass

        await asyncio.to_thread(create_watch_list)
        await eventually(lambda: intake.state(youth).lost_contact, timeout=10)
    finally:
        stop.set()
        await task
