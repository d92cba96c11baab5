"""Time as a parameter: services take a ``Clock``; tests pass a fixed one."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, date, datetime

# One definition of China time and its ISO form: the API and the offline verifier print alike.
from verify.result_json import CHINA_TZ as CHINA_TZ
from verify.result_json import iso as iso

Clock = Callable[[], int]


def system_clock() -> int:
    return int(time.time())


def today_in_china(now: int) -> date:
    return datetime.fromtimestamp(now, CHINA_TZ).date()


def start_of_day(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=CHINA_TZ).timestamp())


def end_of_day(day: date) -> int:
    return start_of_day(day) + 86_399


def utc_year(now: int) -> int:
    return datetime.fromtimestamp(now, UTC).year
