"""Time as a parameter: services take a ``Clock``; tests pass a fixed one."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone

Clock = Callable[[], int]
CHINA_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")  # no DST since 1991


def system_clock() -> int:
    return int(time.time())


def iso(ts: int | None) -> str | None:
    """Unix seconds → ISO 8601 in China Standard Time (what the counter reads)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, CHINA_TZ).isoformat()


def today_in_china(now: int) -> date:
    return datetime.fromtimestamp(now, CHINA_TZ).date()


def start_of_day(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=CHINA_TZ).timestamp())


def end_of_day(day: date) -> int:
    return start_of_day(day) + 86_399


def utc_year(now: int) -> int:
    return datetime.fromtimestamp(now, UTC).year
