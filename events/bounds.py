"""What every date and text of a message may hold: values the store and the views can keep and read
back. A date-time is between 1900 and 2199 once normalised to UTC (a consent that expired on
9999-12-31T23:59:59-14:00 was year 10000 in UTC, which no reader could open); a text holds no
control character (PostgreSQL text and jsonb cannot hold NUL, and logs and headers must not carry
them). Refused with a reason naming the field, never echoing the value.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, Field
from pydantic_core import PydanticCustomError

EARLIEST_YEAR, LATEST_YEAR = 1900, 2199
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # tab, newline and carriage return are text


def _out_of_range() -> PydanticCustomError:
    return PydanticCustomError("date_out_of_range",
                               f"a date between {EARLIEST_YEAR} and {LATEST_YEAR} (in UTC for a date-time)")


def instant_in_range(value: datetime) -> datetime:
    try:
        year = value.astimezone(timezone.utc).year
    except OverflowError:
        raise _out_of_range() from None
    if not EARLIEST_YEAR <= year <= LATEST_YEAR:
        raise _out_of_range()
    return value


def day_in_range(value: date) -> date:
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise _out_of_range()
    return value


def plain_text(value: Any) -> Any:
    """A text (or the texts in a list or the keys of a mapping) without control characters."""
    if isinstance(value, str):
        if CONTROL.search(value):
            raise PydanticCustomError("control_character",
                                      "text may not contain control characters (NUL, escape, ...); tab and newline may")
    elif isinstance(value, (list, tuple)):
        for item in value:
            plain_text(item)
    elif isinstance(value, dict):
        for key in value:
            plain_text(key)
    return value


Instant = Annotated[AwareDatetime, AfterValidator(instant_in_range),
                    Field(description=f"A date-time with its offset, years {EARLIEST_YEAR}-{LATEST_YEAR} in UTC.")]
Day = Annotated[date, AfterValidator(day_in_range),
                Field(description=f"A date, years {EARLIEST_YEAR}-{LATEST_YEAR}.")]
