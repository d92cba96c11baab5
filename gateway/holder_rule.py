"""One live credential of a type per holder, unless the type allows several (issue 12).

Issue 12: a register issued again under another name left one company with 3 live business
licences. A type file says whether one holder may hold several live credentials of the type
(``several_live_per_holder``, default no: :mod:`issuers.credential_types`); issuing another to a
holder who has a live one is refused with a field error naming the live one's id, whichever way
it is issued (``POST /api/v1/credentials``, ``ecert issue``, a batch).

Live: status 01 有效 or 02 暂扣 (a suspended credential may be reinstated, so it still counts),
and not past its ``valid_until`` at the time of issuing. Revoked, cancelled, expired and other
final states (03–07, 99) do not count, so a renewal after expiry or revocation is issued. A
delegated copy (委托用证, ``delegated_from`` set) is the holder's credential shown by someone else,
not another credential, and never counts. The holder is the type's holder code (USCC or ID
number, ``holder_code``), across every agency of this gateway.

The callers hold the agency's row lock while they check and write, so two issuances racing for
one holder of one agency see each other; two agencies issuing one type to one holder at the same
instant are not serialised (no agency issues another's types in practice).

Deliberately not here: reading the type files (:mod:`issuers.credential_types`) and writing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import Select, any_, bindparam, or_, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from gateway import value_lists
from gateway.models import CredentialRow
from issuers.credential_types import CredentialType

LIVE_CODES = ("01", "02")  # 有效, 暂扣
_STEP = 500  # holder codes per query


def live_for(
    session: Session, *, ctype: CredentialType, holders: Iterable[str], now: int
) -> dict[str, str]:
    """``{holder code: id}`` of a live credential of ``ctype`` each of ``holders`` holds."""
    wanted = sorted({h for h in holders if h})
    found: dict[str, str] = {}
    postgres = session.get_bind().dialect.name == "postgresql"
    step = (len(wanted) or 1) if postgres else _STEP  # one array on PostgreSQL
    for start in range(0, len(wanted), step):
        values = {"type": ctype.code, "holders": wanted[start : start + step], "now": now}
        for holder, cid in session.execute(_LIVE[postgres], values):
            found.setdefault(holder, cid)
    return found


def _live_query(*, postgres: bool) -> Select[str, str]:
    """On PostgreSQL the holders are bound as one value (:func:`gateway.value_lists.one_of`)
    and the live codes as an array (``= ANY``): one statement text whatever the count,
    prepared once by the driver. An ``IN`` list is rendered again for every execution, which
    cost a group of 8 issuances twice what its other look-ups did (issue 13's profile); SQLite
    has no arrays."""
    c = CredentialRow.__table__.c  # Core columns: no ORM bookkeeping for two plain values
    of_holders = value_lists.one_of(c.holder_code, "holders", postgres=postgres)
    if postgres:  # two codes: an array cheap to bind, and no IN list rendered each time
        live = c.status_code == any_(
            bindparam("live", list(LIVE_CODES), type_=postgresql.ARRAY(c.status_code.type))
        )
    else:
        live = c.status_code.in_(LIVE_CODES)
    return (
        select(c.holder_code, c.id)
        .where(
            c.type == bindparam("type"),
            of_holders,
            live,
            c.delegated_from.is_(None),
            or_(c.valid_until.is_(None), c.valid_until > bindparam("now")),
        )
        .order_by(c.issued_at, c.id)
    )


# Built once: building costs more CPU than running it. By "on PostgreSQL".
_LIVE = {postgres: _live_query(postgres=postgres) for postgres in (False, True)}


def holder_of(ctype: CredentialType, subject: Mapping[str, object]) -> str:
    """The holder code of a checked subject, as ``CredentialRow.holder_code`` stores it."""
    return str(subject.get(ctype.holder_code_field, ""))


def already_holds(ctype: CredentialType, *, live_id: str) -> dict[str, str]:
    """The field error for a holder who holds a live credential ``live_id`` of ``ctype``."""
    field = f"subject.{ctype.holder_code_field}"
    return {
        "field": field,
        "code": "holder_has_live",
        "message": f"该持证主体已持有一张有效（或暂扣）的{ctype.name_zh}（证照 id {live_id}），"
        f"此类证照每个持证主体只能持有一张；如需换发，请先注销或吊销原证",
        "message_en": f"expected a holder without a live {ctype.name_en} (one per holder for "
        f"{ctype.code}), found live credential {live_id} (valid or suspended); revoke it "
        "before issuing another",
    }


def twice_in_batch(ctype: CredentialType, *, first: tuple[str, str]) -> dict[str, str]:
    """The field error for a row whose holder an earlier row of the same batch has; ``first``
    names that row (zh-CN, English)."""
    field = f"subject.{ctype.holder_code_field}"
    return {
        "field": field,
        "code": "holder_twice",
        "message": f"与{first[0]}是同一持证主体，{ctype.name_zh}每个持证主体只能持有一张有效证照",
        "message_en": f"expected one {ctype.name_en} per holder ({ctype.code}), found the "
        f"holder of {first[1]} again",
    }
