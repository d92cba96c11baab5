"""Which kept credential a wallet presents when a counter asks (``ecert wallet present``).

A credential matches a request when it is of the type asked for (same ``vct``, or the same
type path ``/vct/{type}``) and holds every claim asked for (one received before its type
gained a field, e.g. ``id_number_masked``, does not). One match is presented as before. With
several (two resident e-IDs, an old one and its renewal) the wallet lists them, newest first,
with issuer, id, issue date and a status hint, and asks which; ``--credential ID`` chooses in
scripts. It never picks silently: several matches, ``--yes`` and no ``--credential`` is an
error that lists the ids.

The status hint is what the wallet itself knows: the credential's expiry, and a counter's refusal
the last time it was presented (from the wallet's history: "REVOKED" after a renewal, say).
Whether the issuer revoked or suspended it now is the counter's to check, from its status list.

Every message is Chinese first, English beside. Deliberately not here: the request, the
counter's trust and role (:mod:`cli.wallet_present`), presenting several credentials at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import typer

from cli.common import say
from issuers.wallet_types import VCT_PATH
from trust.errors import DataError

MAX_CHOICE = 64  # characters of a typed answer
MAX_SHOWN = 80  # characters of a counter's message in a hint


def _day(at: object) -> str:
    return time.strftime("%Y-%m-%d", time.localtime(at)) if isinstance(at, int) else "?"


def status_hint(record: dict[str, Any], *, now: int, last: Mapping[str, Any] | None = None) -> str:
    """What the wallet itself can tell of a kept credential: expired, or until when valid; and
    the counter's refusal when ``last`` (its latest history entry) was refused."""
    expires = record.get("expires")
    if not isinstance(expires, int):
        hint = "长期有效 · no expiry"
    elif expires <= now:
        hint = f"已过期 · expired {_day(expires)}"
    else:
        hint = f"有效期至 {_day(expires)} · valid until {_day(expires)}"
    if last is not None and last.get("accepted") is False:
        found = last.get("answer")
        answer: Mapping[str, Any] = found if isinstance(found, dict) else {}
        zh = str(answer.get("message") or answer.get("error"))[:MAX_SHOWN]
        en = str(answer.get("message_en") or answer.get("error"))[:MAX_SHOWN]
        hint += f"；上次出示被拒：{zh} · last presented: refused, {en}"
    return hint


def describe(record: dict[str, Any], *, now: int, last: Mapping[str, Any] | None = None) -> str:
    """One line for a choice: id, type, issuer, issue date, status hint."""
    return (
        f"{record.get('id')}  {record.get('type')}  签发方 issuer {record.get('issuer')}  "
        f"签发于 issued {_day(record.get('issued_at'))}  {status_hint(record, now=now, last=last)}"
    )


def matching(
    records: Sequence[dict[str, Any]], vct: str, fields: Sequence[str]
) -> list[dict[str, Any]]:
    """The kept credentials that can answer a request for ``fields`` of the type ``vct`` names,
    newest first; refuses when there is none, saying why."""
    wanted = urlsplit(vct).path.rsplit(VCT_PATH, 1)[-1]
    of_type = [r for r in records if r.get("vct") == vct or r.get("type") == wanted]
    if not of_type:
        raise DataError(f"钱包里没有所需证照 · no credential of type {wanted!r} in the wallet")
    found = [r for r in of_type if set(fields) <= set(r.get("claims") or {})]
    if not found:
        raise DataError(
            f"钱包里的 {wanted} 证照都没有所需字段 {list(fields)}，请向签发机关重新领取 · no "
            f"{wanted} credential in the wallet holds {list(fields)} (ids "
            f"{[r.get('id') for r in of_type]}); receive a newer one from the issuer"
        )
    return sorted(found, key=lambda r: (r.get("issued_at") or 0, str(r.get("id"))), reverse=True)


def _ask() -> str:
    try:
        return str(typer.prompt("选择要出示的证照（序号或编号）· choose one (number or id)"))
    except (typer.Abort, EOFError):  # no terminal to answer on: nothing is presented
        raise DataError("未出示 · not presented (no credential chosen)") from None


def choose(
    found: Sequence[dict[str, Any]],
    *,
    credential: str | None,
    yes: bool,
    now: int,
    show: bool = True,
    ask: Callable[[], str] = _ask,
    history: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The one of ``found`` (:func:`matching`) to present: ``credential`` when given, the only
    one, or the holder's answer to ``ask``; never a silent pick among several. ``history`` (the
    wallet's presentations, oldest first) gives each its last counter's answer."""
    ids = [str(r.get("id")) for r in found]
    if credential is not None:
        if credential not in ids:
            raise DataError(
                f"所选证照不符合本次请求 · expected one of {ids} (credentials matching the "
                f"request), found --credential {credential[:MAX_CHOICE]!r}"
            )
        return found[ids.index(credential)]
    if len(found) == 1:
        return found[0]
    if yes:
        raise DataError(
            f"钱包里有 {len(found)} 张证照符合请求，请用 --credential 指定其一：{'、'.join(ids)} · "
            f"expected --credential ID with --yes when several credentials match, found {ids}"
        )
    if show:
        say(f"符合请求的证照 · matching credentials ({len(found)})：")
        last = {str(e.get("credential")): e for e in history}
        for n, record in enumerate(found, 1):
            say(f"  [{n}] {describe(record, now=now, last=last.get(str(record.get('id'))))}")
    answer = ask().strip()[:MAX_CHOICE]
    if answer in ids:
        return found[ids.index(answer)]
    if answer.isdigit() and 1 <= int(answer) <= len(found):
        return found[int(answer) - 1]
    raise DataError(
        f"未出示：没有这一项 · not presented: expected 1 to {len(found)} or one of {ids}, "
        f"found {answer!r}"
    )
