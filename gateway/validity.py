"""The validity window of a credential as it enters: ``YYYY-MM-DD`` or ISO 8601, range-checked.

A date outside :data:`EARLIEST_DAY` – :data:`LATEST_DAY` is a field-level
:class:`trust.errors.FieldError` naming the field, the range and what was found. Deliberately
not here: the type's default validity and the order of start and end (``gateway.issuance``).
"""

from __future__ import annotations

from datetime import date, datetime

from gateway.clock import CHINA_TZ, end_of_day, start_of_day
from trust.errors import FieldError

# The validity window a credential may have (China time). Dates outside it are refused where
# they enter: a year-1 start or a year-9999 end once passed every check, was signed and stored,
# and then could not be shown (``datetime`` ends at year 9999), answering 500 after the write
# (issue 11). "长期有效" is no valid_until (or the type's default), not 9999-12-31.
EARLIEST_DAY = date(1900, 1, 1)
LATEST_DAY = date(2199, 12, 31)
EARLIEST = start_of_day(EARLIEST_DAY)
LATEST = end_of_day(LATEST_DAY)


def _shown(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:40] + "…")


def _out_of_range(field: str, found: str) -> FieldError:
    return FieldError.single(
        field,
        "range",
        f"日期应在 {EARLIEST_DAY} 至 {LATEST_DAY} 之间（中国时间），实际为 {found}",
        f"expected a date from {EARLIEST_DAY} to {LATEST_DAY} (China time), found {found}",
    )


def parse_when(value: str | None, field: str, *, end: bool) -> int | None:
    """``YYYY-MM-DD`` (a whole day in China time) or an ISO 8601 date-time with offset, within
    :data:`EARLIEST` and :data:`LATEST`; :class:`FieldError` naming ``field`` otherwise."""
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 40:
        raise FieldError.single(
            field,
            "date",
            "日期格式应为 YYYY-MM-DD 或 ISO 8601（最多 40 个字符）",
            "expected YYYY-MM-DD or an ISO 8601 date-time of at most 40 characters",
        )
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            if not EARLIEST_DAY <= day <= LATEST_DAY:
                raise _out_of_range(field, _shown(value))
            return end_of_day(day) if end else start_of_day(day)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise FieldError.single(
            field,
            "date",
            f"日期格式应为 YYYY-MM-DD 或 ISO 8601，实际为 {_shown(value)}",
            f"expected YYYY-MM-DD or an ISO 8601 date-time, found {_shown(value)}",
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=CHINA_TZ)
    # Compared as dates before any arithmetic: year 1 at +14:00 lies before datetime's range
    # once in UTC, and its timestamp would name a moment no ``iso`` can print.
    if not EARLIEST_DAY <= moment.date() <= LATEST_DAY:
        raise _out_of_range(field, _shown(value))
    at = int(moment.timestamp())
    if not EARLIEST <= at <= LATEST:
        raise _out_of_range(field, _shown(value))
    return at
