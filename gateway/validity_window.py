"""One meaning for ``valid_from`` and ``valid_until``: the credential's validity window.

``valid_until`` is the last moment a credential is valid: a ``YYYY-MM-DD`` is the end of that
day, China time (:mod:`gateway.validity`). Some types print their validity on the certificate
as subject fields of the same names (a permit's 有效期至, a driving licence's 有效起始日期 and
有效期至). Those dates and the request's ``valid_from`` / ``valid_until`` are one thing:

- a date printed in the subject is the credential's window (before, the window came from the
  type's default validity whatever the permit said: a food permit printed 2030-12-31 and issued
  on 2025-12-06 expired 26 days before that date, issue 12);
- a request that names the window and leaves the printed date out has it printed;
- a request that names a window differing from the printed date is refused, with a field error
  that names both;
- a type that prints its ``valid_until`` takes no default validity (an optional printed date
  left out means 长期有效, no end; ``issuers.credential_types`` refuses a type file with both).

Deliberately not here: parsing and range checks of one date (:mod:`gateway.validity`) and the
check of the subject itself (:mod:`issuers.subjects`).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from gateway.clock import end_of_day, iso, start_of_day, today_in_china
from gateway.validity import LATEST, LATEST_DAY, parse_when
from issuers.credential_types import CredentialType
from trust.errors import FieldError

# (name, is the end of the window) of each date a type may print
WINDOW_FIELDS = (("valid_from", False), ("valid_until", True))


def printed(ctype: CredentialType, name: str) -> bool:
    """Whether ``ctype`` prints the window date ``name`` as a subject field the agency submits."""
    return any(f.name == name and f.derived is None and f.check == "date" for f in ctype.fields)


def _moment(day: date, *, end: bool) -> int:
    return end_of_day(day) if end else start_of_day(day)


def with_printed_dates(
    ctype: CredentialType, subject: object, *, valid_from: str | None, valid_until: str | None
) -> object:
    """``subject`` with the window dates the type prints and the subject leaves out filled from
    the request's (as ``YYYY-MM-DD``); anything else unchanged (the subject's own check comes
    next). A request date that is not a whole day cannot be printed: a field error."""
    if not isinstance(subject, dict):
        return subject
    given = {"valid_from": valid_from, "valid_until": valid_until}
    out = subject
    for name, end in WINDOW_FIELDS:
        value = given[name]
        if value is None or name in subject or not printed(ctype, name):
            continue
        at = parse_when(value, name, end=end)
        assert at is not None
        day = today_in_china(at)
        if at != _moment(day, end=end):
            which_zh = "结束" if end else "开始"
            raise FieldError.single(
                name,
                "whole_day",
                f"{ctype.name_zh}在证面印有该日期，{name} 应为整日（YYYY-MM-DD，或该日{which_zh}"
                f"时刻），实际为 {iso(at)}",
                f"expected {name} to be a whole day (YYYY-MM-DD, or the {'end' if end else 'start'}"
                f" of a day in China time): {ctype.code} prints it on the certificate; found "
                f"{iso(at)}",
            )
        out = {**out, name: day.isoformat()}
    return out


def _agreed(
    ctype: CredentialType, subject: dict[str, Any], name: str, given: str | None, *, end: bool
) -> int | None:
    """The window's ``name`` end from the request (``given``) and the printed date, which must
    agree; ``None`` when neither names it."""
    at = parse_when(given, name, end=end)
    shown = subject.get(name) if printed(ctype, name) else None
    if not isinstance(shown, str):
        return at
    on_paper = parse_when(shown, name, end=end)
    if at is None or at == on_paper:
        return on_paper
    assert on_paper is not None
    raise FieldError.single(
        name,
        "conflict",
        f"{name}（{iso(at)}）与证面日期 subject.{name}（{shown}，即 {iso(on_paper)}）不一致：二者"
        f"是同一日期（证照有效期），请只填其一或填写相同日期",
        f"expected {name} and subject.{name} to name one date (both are the credential's "
        f"validity), found {name} {iso(at)} and subject.{name} {shown} ({iso(on_paper)}); give "
        f"one of them, or the same date in both",
    )


def window(
    ctype: CredentialType,
    subject: dict[str, Any],
    *,
    valid_from: str | None,
    valid_until: str | None,
    now: int,
) -> tuple[int, int | None]:
    """The credential's validity window ``(valid_from, valid_until)`` from the request and the
    checked subject; ``valid_until`` ``None`` is 长期有效. Field errors name what was found."""
    start = _agreed(ctype, subject, "valid_from", valid_from, end=False)
    until = _agreed(ctype, subject, "valid_until", valid_until, end=True)
    begins = now if start is None else start
    if until is None and not printed(ctype, "valid_until") and ctype.default_validity_days:
        until = begins + ctype.default_validity_days * 86_400
        if until > LATEST:
            raise FieldError.single(
                "valid_from",
                "range",
                f"自该起始日期起，{ctype.code} 的默认有效期（{ctype.default_validity_days} 天）"
                f"将超过 {LATEST_DAY}；请提供 valid_until 或更早的起始日期",
                f"expected a valid_from whose default validity of "
                f"{ctype.default_validity_days} days for {ctype.code} ends by {LATEST_DAY}, "
                f"found {iso(begins)}; give valid_until or an earlier start",
            )
    if until is not None and until <= max(begins, now):
        raise FieldError.single(
            "valid_until",
            "range",
            f"有效期截止日期须晚于起始日期和当前时间，实际为 {iso(until)}",
            f"expected valid_until later than valid_from ({iso(begins)}) and now ({iso(now)}), "
            f"found {iso(until)}",
        )
    return begins, until
