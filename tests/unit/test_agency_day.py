"""An agency's "today" is the day where it is: at 23:30 UTC on 1 December it is already 2 December
in Milan and Lugano, so a form with that day is not "in the future" there (social prescribing's
dates, intake's reviews due)."""

from datetime import date, datetime, timezone

from shared.agencies import load_register, today_in

LATE = datetime(2026, 12, 1, 23, 30, tzinfo=timezone.utc)


def test_given_late_evening_utc_then_it_is_tomorrow_for_italian_and_swiss_agencies():
    register = load_register()
    assert today_in(register, "comune-milano-m7", LATE) == date(2026, 12, 2)
    assert today_in(register, "ngo-lugano", LATE) == date(2026, 12, 2)
    assert today_in(register, "comune-milano-m7", datetime(2026, 12, 1, 22, 30, tzinfo=timezone.utc)) == date(
        2026, 12, 1)


def test_given_an_agency_not_in_the_register_then_italian_time():
    assert today_in(load_register(), "nowhere", LATE) == date(2026, 12, 2)
