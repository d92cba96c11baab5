"""What the HTTP verify answer adds to :mod:`verify.result_json` (issue 12): which gateway
answered, and, for a revoked or suspended certificate, when, why and which kind.

- ``answered_by``: this city's name, GB/T 2260 code and public URL (read once per live state
  version, not per answer: the verify hot path stays without a query).
- ``status_detail``, for REVOKED and SUSPENDED only. A status list says only "invalid" or
  "suspended" (Token Status List, 2 bits). For a certificate this gateway issued, its own record
  says the rest: the GB/T status code (04 注销, 07 吊销 …, 02 暂扣), when the change was made and
  the reason recorded with it (``source: "issuer_record"``), read from the database only for
  these answers. For another city's certificate the answer says plainly what is known: the
  status list's word and how current it was, and whom to ask (``source: "status_list"``, code,
  kind, date and reason ``null``).

Deliberately not here: deciding anything (:mod:`verify.verifier`), and the offline kiosk, which
has no records (``cli/kiosk.py`` answers from the status list alone).
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

from sqlalchemy import select

from gateway.core import Gateway
from gateway.models import CityRow, CredentialRow, StatusChangeRow
from issuers.status_rules import STATUS_NAMES
from verify.reasons import Reason
from verify.result import VerificationResult
from verify.result_json import iso

DETAILED = (Reason.REVOKED, Reason.SUSPENDED)
_answering: weakref.WeakKeyDictionary[Gateway, tuple[int, dict[str, str]]] = (
    weakref.WeakKeyDictionary()
)
_lock = threading.Lock()
# The last entry written, read without the lock or a weak key: one process serves one gateway,
# and a look-up of the weak dictionary (a new weak reference a call) costs more than a verify's
# answer (issue 13). Replaced whole, so a reader sees an old entry or a new one.
_last: tuple[weakref.ref[Gateway], int, dict[str, str]] | None = None


def held_answered_by(gw: Gateway) -> dict[str, str] | None:
    """:func:`answered_by` when it is held for the live state version, else None (reading it
    needs the database)."""
    last = _last
    if last is not None and last[0]() is gw:
        return last[2] if last[1] == gw.state.version else None
    with _lock:
        held = _answering.get(gw)
    return held[1] if held is not None and held[0] == gw.state.version else None


def answered_by(gw: Gateway) -> dict[str, str]:
    """This gateway's name, code and URL, as of its live state."""
    global _last
    version = gw.state.version
    held = held_answered_by(gw)
    if held is not None:
        return held
    with gw.sessions() as session:
        city = session.get(CityRow, 1)
        assert city is not None  # a live state is built only for an initialised city
        who = {"name": city.name, "code": city.code, "url": city.public_url}
    with _lock:
        _answering[gw] = (version, who)
        _last = (weakref.ref(gw), version, who)
    return who


def _issuer_name(result: VerificationResult) -> str:
    issuer = result.issuer
    return (issuer.name or issuer.id) if issuer is not None else "签发机构"


def _from_status_list(result: VerificationResult) -> dict[str, Any]:
    as_of = iso(result.status_as_of) or "—"
    who = _issuer_name(result)
    if result.reason is Reason.REVOKED:
        zh_word, en_word = "已失效（撤销类）", "no longer valid (revoked, cancelled or withdrawn)"
    else:
        zh_word, en_word = "暂停使用", "suspended"
    return {
        "code": None,
        "kind": None,
        "at": None,
        "reason": None,
        "source": "status_list",
        "status_as_of": iso(result.status_as_of),
        "note": {
            "zh": f"签发地的状态列表只标明此证照{zh_word}，未载明日期、原因和类别（如注销或吊销）；"
            f"状态数据截至 {as_of}。详情请向签发机构{who}查询。",
            "en": f"The issuing city's status list says only that this certificate is "
            f"{en_word}; it gives no date, reason or kind (such as cancelled or revoked as a "
            f"penalty). Status data as of {as_of}. Ask the issuer, {who}, for details.",
        },
    }


def status_detail(gw: Gateway, result: VerificationResult) -> dict[str, Any] | None:
    """Date, reason and kind of a revocation or suspension (see the module docstring); None
    for any other answer."""
    if result.reason not in DETAILED:
        return None
    local = result.issuer is not None and result.issuer.expires_at is None
    digest = result.token_hash
    if not local or digest is None:
        return _from_status_list(result)
    with gw.sessions() as session:
        row = session.scalar(select(CredentialRow).where(CredentialRow.token_hash == digest.hex()))
        change = None
        if row is not None:
            change = session.scalar(
                select(StatusChangeRow)
                .where(
                    StatusChangeRow.credential_id == row.id,
                    StatusChangeRow.to_code == row.status_code,
                )
                .order_by(StatusChangeRow.id.desc())
                .limit(1)
            )
        if row is None or change is None or row.status_code not in STATUS_NAMES:
            return _from_status_list(result)
        zh, en = STATUS_NAMES[row.status_code]
        return {
            "code": row.status_code,
            "kind": {"zh": zh, "en": en},
            "at": iso(change.at),
            "reason": change.reason,
            "source": "issuer_record",
            "status_as_of": iso(result.status_as_of),
            "note": None,
        }


def extras(gw: Gateway, result: VerificationResult) -> dict[str, Any]:
    """The fields the HTTP answer adds to :func:`verify.result_json.verification_json`."""
    return {"answered_by": answered_by(gw), "status_detail": status_detail(gw, result)}


def extras_without_io(gw: Gateway, result: VerificationResult) -> dict[str, Any] | None:
    """:func:`extras` when it needs no database read (most answers: not revoked or suspended,
    the city's identity held), else None: the event loop calls :func:`extras` in a thread."""
    who = held_answered_by(gw)
    if who is None or result.reason in DETAILED:
        return None
    return {"answered_by": who, "status_detail": None}
