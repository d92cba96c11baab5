"""Listing and searching an agency's own credentials, a bounded page at a time.

:func:`search` answers a :class:`CredentialQuery` (type, status, the subject's name or code,
issue and validity dates) over the credentials one agency issued, newest first, in pages of at
most :data:`MAX_LIMIT`. Paging is by keyset, not offset: a cursor holds the position of the last
row shown (its ``issued_at`` and ``id``, the order's key) and a digest of the query it belongs
to, so credentials issued while a client pages (they sort before the position) never push a row
into the next page twice, and none is skipped. A cursor is not a secret and needs no signature:
whatever it says, the query stays scoped to the calling agency. A bad cursor, limit or filter is
a :class:`trust.errors.FieldError` naming the parameter, what was expected and what was found.

Deliberately not here: one credential's detail and status history
(:mod:`gateway.credential_views`), the HTTP and CLI faces, and delegated copies (委托用证), which
are their holders' and never listed with what the agency issued.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import ColumnElement, or_, select, tuple_
from sqlalchemy.orm import load_only

from gateway.clock import iso
from gateway.core import Gateway
from gateway.models import CredentialRow
from gateway.validity import parse_when
from issuers.status_rules import FINAL_CODES, STATUS_NAMES
from trust.errors import DataError, FieldError

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
MAX_Q = 100  # characters of a name searched for
MAX_CURSOR = 200  # characters of a cursor (one is about 60)
_CURSOR_VERSION = 1
# status filter → the GB/T status codes it selects: a code itself, or a name
STATUS_FILTERS: dict[str, frozenset[str]] = {
    **{code: frozenset({code}) for code in STATUS_NAMES},
    "valid": frozenset({"01"}),
    "suspended": frozenset({"02"}),
    "revoked": FINAL_CODES,  # every final code (03 撤销 … 99 其他)
}
# A subject's code: a USCC (18, GB 32100) or an ID number (18, GB 11643; 15 before 1999).
_CODE = re.compile(r"[0-9A-Z]{18}|[0-9]{15}")
_IDENTIFIER_ROOT = "1.2.156."  # GB/T 36904 证照标识
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class CredentialQuery:
    """What to look for; ``None`` leaves a filter out. Dates are ``YYYY-MM-DD`` (a whole day,
    China time) or ISO 8601, as at issuance.

    - ``type``: a credential type code; ``status``: a GB/T code (``01`` … ``99``) or ``valid``,
      ``suspended``, ``revoked`` (every final code);
    - ``q``: the subject's name (any part of it), its full code (统一社会信用代码 / 公民身份号码),
      or a 证照标识;
    - ``issued_from`` / ``issued_to``: issued within these days (both inclusive);
    - ``valid_on``: the validity window covers (part of) that day, whatever the status;
    - ``expires_from`` / ``expires_to``: ``valid_until`` within these days (长期有效 never is).
    """

    type: str | None = None
    status: str | None = None
    q: str | None = None
    issued_from: str | None = None
    issued_to: str | None = None
    valid_on: str | None = None
    expires_from: str | None = None
    expires_to: str | None = None

    def digest(self) -> str:
        """What a cursor remembers of the query it was made for."""
        text = json.dumps(asdict(self), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class CredentialPage:
    items: list[dict[str, Any]]
    next_cursor: str | None  # None: this was the last page


def _problem(field: str, code: str, zh: str, en: str) -> FieldError:
    return FieldError.single(field, code, zh, en)


def _shown(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:40] + "…")


def _range(query: CredentialQuery, low: str, high: str) -> tuple[int | None, int | None]:
    first = parse_when(getattr(query, low), low, end=False)
    last = parse_when(getattr(query, high), high, end=True)
    if first is not None and last is not None and first > last:
        raise _problem(
            high,
            "range",
            f"{high}（{iso(last)}）应不早于 {low}（{iso(first)}）",
            f"expected {high} on or after {low}, found {low} {iso(first)} and {high} {iso(last)}",
        )
    return first, last


def _text_match(q: str) -> ColumnElement[bool]:
    text = q.strip()
    if not text or len(text) > MAX_Q or _CONTROL.search(text):
        raise _problem(
            "q",
            "text",
            f"q 应为 1–{MAX_Q} 个字符的名称、代码或证照标识（不含控制字符），实际为 {_shown(q)}",
            f"expected q to be a name, a code or a 证照标识 of 1 to {MAX_Q} characters without "
            f"control characters, found {_shown(q)}",
        )
    if text.startswith(_IDENTIFIER_ROOT):
        return CredentialRow.identifier == text
    if _CODE.fullmatch(text.upper()):
        return CredentialRow.holder_code == text.upper()
    return CredentialRow.holder_name.icontains(text, autoescape=True)


def conditions(gw: Gateway, agency_id: str, query: CredentialQuery) -> list[ColumnElement[bool]]:
    """The WHERE clauses of ``query`` for ``agency_id``'s credentials; field errors first."""
    where: list[ColumnElement[bool]] = [
        CredentialRow.agency_id == agency_id,
        CredentialRow.delegated_from.is_(None),
    ]
    if query.type is not None:
        if query.type not in gw.types:
            known = ", ".join(sorted(t.code for t in gw.types))
            raise _problem(
                "type",
                "unknown_type",
                f"未知证照类型 {_shown(query.type)}，应为 {known} 之一",
                f"expected one of {known}, found {_shown(query.type)}",
            )
        where.append(CredentialRow.type == query.type)
    if query.status is not None:
        codes = STATUS_FILTERS.get(query.status)
        if codes is None:
            named = ", ".join(STATUS_FILTERS)
            raise _problem(
                "status",
                "status",
                f"状态应为 {named} 之一，实际为 {_shown(query.status)}",
                f"expected one of {named}, found {_shown(query.status)}",
            )
        where.append(CredentialRow.status_code.in_(sorted(codes)))
    if query.q is not None:
        where.append(_text_match(query.q))
    issued_from, issued_to = _range(query, "issued_from", "issued_to")
    if issued_from is not None:
        where.append(CredentialRow.issued_at >= issued_from)
    if issued_to is not None:
        where.append(CredentialRow.issued_at <= issued_to)
    if query.valid_on is not None:
        day_start = parse_when(query.valid_on, "valid_on", end=False)
        day_end = parse_when(query.valid_on, "valid_on", end=True)
        assert day_start is not None
        assert day_end is not None
        where.append(CredentialRow.valid_from <= day_end)
        where.append(
            or_(CredentialRow.valid_until.is_(None), CredentialRow.valid_until >= day_start)
        )
    expires_from, expires_to = _range(query, "expires_from", "expires_to")
    if expires_from is not None:
        where.append(CredentialRow.valid_until >= expires_from)
    if expires_to is not None:
        where.append(CredentialRow.valid_until <= expires_to)
    return where


def encode_cursor(issued_at: int, credential_id: str, query: CredentialQuery) -> str:
    body = json.dumps([_CURSOR_VERSION, issued_at, credential_id, query.digest()])
    return base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")


def _bad_cursor(found: str) -> FieldError:
    return _problem(
        "cursor",
        "cursor",
        f"游标无效：应为上一页返回的 next_cursor，实际为 {found}",
        f"expected the next_cursor a previous page answered, found {found}",
    )


def decode_cursor(cursor: str, query: CredentialQuery) -> tuple[int, str]:
    """The position ``(issued_at, id)`` a cursor of ``query`` holds; field errors otherwise."""
    if not 1 <= len(cursor) <= MAX_CURSOR:
        raise _bad_cursor(f"{len(cursor)} characters")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        parsed = json.loads(raw)
    except (ValueError, binascii.Error):
        raise _bad_cursor(_shown(cursor)) from None
    if not (
        isinstance(parsed, list)
        and len(parsed) == 4
        and parsed[0] == _CURSOR_VERSION
        and isinstance(parsed[1], int)
        and not isinstance(parsed[1], bool)
        and 0 <= parsed[1] < 2**63
        and isinstance(parsed[2], str)
        and 1 <= len(parsed[2]) <= 40
        and isinstance(parsed[3], str)
    ):
        raise _bad_cursor(_shown(cursor))
    if parsed[3] != query.digest():
        raise _problem(
            "cursor",
            "cursor_query",
            "该游标属于另一组查询条件：翻页时请保持相同的筛选条件",
            "expected a cursor of this query, found one made for different filters: keep the "
            "filters while paging",
        )
    return parsed[1], parsed[2]


def check_limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise _problem(
            "limit",
            "range",
            f"每页条数应为 1–{MAX_LIMIT}，实际为 {limit!r}",
            f"expected a limit from 1 to {MAX_LIMIT}, found {limit!r}",
        )
    return limit


def _type_name(gw: Gateway, code: str) -> dict[str, str]:
    try:
        ctype = gw.types.get(code)
    except DataError:  # a type file since removed: its credentials are still listed
        return {"zh": code, "en": code}
    return {"zh": ctype.name_zh, "en": ctype.name_en}


_LISTED = (
    CredentialRow.id,
    CredentialRow.identifier,
    CredentialRow.type,
    CredentialRow.holder_name,
    CredentialRow.holder_code,
    CredentialRow.holder_code_type,
    CredentialRow.status_code,
    CredentialRow.issued_at,
    CredentialRow.valid_from,
    CredentialRow.valid_until,
)


def item(gw: Gateway, row: CredentialRow) -> dict[str, Any]:
    """One credential as a list shows it (no subject data beyond its holder's name and code)."""
    zh, en = STATUS_NAMES[row.status_code]
    return {
        "id": row.id,
        "identifier": row.identifier,
        "type": row.type,
        "type_name": _type_name(gw, row.type),
        "subject_name": row.holder_name,
        "subject_code": row.holder_code,
        "subject_code_type": row.holder_code_type,
        "status": en,
        "status_code": row.status_code,
        "status_name": {"zh": zh, "en": en},
        "issued_at": iso(row.issued_at),
        "valid_from": iso(row.valid_from),
        "valid_until": iso(row.valid_until),
    }


def search(
    gw: Gateway,
    *,
    agency_id: str,
    query: CredentialQuery,
    cursor: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> CredentialPage:
    """One page of ``agency_id``'s credentials matching ``query``, newest first."""
    check_limit(limit)
    where = conditions(gw, agency_id, query)
    if cursor is not None:
        at, last_id = decode_cursor(cursor, query)
        # A row-value comparison, which PostgreSQL reads as one range of the (agency_id,
        # issued_at, id) index (the OR of the two cases scanned it: 100 ms 100,000 rows deep).
        where.append(tuple_(CredentialRow.issued_at, CredentialRow.id) < tuple_(at, last_id))
    statement = (
        select(CredentialRow)
        .options(load_only(*_LISTED))  # not the token nor the subject
        .where(*where)
        .order_by(CredentialRow.issued_at.desc(), CredentialRow.id.desc())
        .limit(limit + 1)
    )
    with gw.sessions() as session:
        rows = list(session.scalars(statement))
    more = len(rows) > limit
    shown = rows[:limit]
    items = [item(gw, row) for row in shown]
    last = shown[-1] if more else None
    return CredentialPage(
        items, encode_cursor(last.issued_at, last.id, query) if last is not None else None
    )
