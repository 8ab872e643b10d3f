"""Time helpers: QBO's timestamp formats and the company-local offsets."""

from __future__ import annotations

import functools
import time
from datetime import UTC, date, datetime, timedelta, timezone

# [U] QBO stamps MetaData in the company's time zone; a fixed offset per country keeps it deterministic.
COUNTRY_UTC_OFFSET_HOURS = {"US": -7, "GB": 0, "CA": -5, "AU": 10}


@functools.cache
def company_tz(country: str) -> timezone:
    return timezone(timedelta(hours=COUNTRY_UTC_OFFSET_HOURS.get(country, 0)))


def now_utc() -> datetime:
    return datetime.now(UTC)


def qbo_time(tz: timezone | None = None) -> str:
    """Response `time`: milliseconds with offset, e.g. 2015-07-24T10:53:39.287-07:00."""
    return datetime.now(tz or company_tz("US")).isoformat(timespec="milliseconds")


def meta_time(epoch: float, tz: timezone) -> str:
    """MetaData timestamps: seconds with offset."""
    return datetime.fromtimestamp(epoch, tz).isoformat(timespec="seconds")


def iso_ms(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def today(tz: timezone) -> date:
    return datetime.now(tz).date()


def parse_instant(text: str, tz: timezone) -> float | None:
    """An ISO date or datetime as epoch seconds (dates at local midnight); None when unparseable."""
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            return datetime(d.year, d.month, d.day, tzinfo=tz).timestamp()
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed.timestamp()


def monotonic() -> float:
    return time.monotonic()
