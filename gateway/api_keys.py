"""Agencies' API keys: made with fewer scopes and an expiry, listed, revoked, rotated, checked.

A key looks like ``ek_<id>_<secret>``: the id finds the row, the secret is compared by its
SHA-256 (the secret is 256 random bits, so a slow hash adds nothing). A key is shown once.
Revoked and expired keys are refused with a 401 that says so, but only to a caller who
presented the right secret: anyone else learns "unknown or revoked" and nothing more.

Last use: at most one write a minute per key. A process writes only when the row it read is a
minute old, through a conditional UPDATE (so processes racing at the minute write it once),
and remembers the keys it wrote in the last minute, so a burst of requests on one key costs
one write, not one each.

Deliberately not here: throttling failed attempts (``gateway.auth_guard``) and the HTTP
dependency that calls :func:`authenticate` (``gateway.deps``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, Select, bindparam, or_, select, update
from sqlalchemy.orm import Session

from gateway import audit
from gateway.clock import iso
from gateway.core import Gateway
from gateway.errors import Conflict, NotFound, Unauthorised
from gateway.models import AgencyRow, ApiKeyRow
from trust.errors import FieldError

SCOPES = ("issue", "status", "read")
PREFIX = "ek"
MAX_PRESENTED = 200
MAX_LABEL = 128
MAX_LIFETIME = 5 * 366 * 86_400  # an expiry at most five years ahead
MAX_GRACE = 30 * 86_400  # a rotated key keeps working at most 30 days
LAST_USE_EVERY = 60  # seconds: last use is written at most this often per key


@dataclass(frozen=True)
class Principal:
    agency_id: str
    key_id: str
    scopes: frozenset[str]
    last_used_at: int | None = None

    @property
    def actor(self) -> str:
        return f"apikey:{self.key_id}"


class KeyRefused(Unauthorised):
    """An API key that does not authenticate; ``known`` is the key id when such a key exists
    (its failures count against it), ``None`` otherwise."""

    def __init__(self, message_zh: str, message_en: str, *, known: str | None) -> None:
        super().__init__(message_en)
        self.message_zh = message_zh
        self.message_en = message_en
        self.known = known


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def key_id_of(presented: str) -> str | None:
    """The id part of ``ek_<id>_<secret>`` (an unauthenticated hint), if it has that form."""
    parts = presented.split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIX or len(presented) > MAX_PRESENTED:
        return None
    return parts[1] if 0 < len(parts[1]) <= 40 else None


def check_scopes(scopes: Iterable[str]) -> list[str]:
    wanted = sorted({s.strip() for s in scopes if s.strip()})
    unknown = [s for s in wanted if s not in SCOPES]
    if unknown or not wanted:
        raise FieldError.single(
            "scopes", "unknown_scope",
            f"接口密钥的权限须为 {', '.join(SCOPES)} 中的一项或多项，实际为 {wanted or '空'}",
            f"API key scopes must be a non-empty subset of {list(SCOPES)}, found {wanted}",
        )  # fmt: skip
    return wanted


def new_api_key(
    session: Session,
    *,
    agency_id: str,
    scopes: Iterable[str],
    now: int,
    expires_at: int | None = None,
    label: str = "",
) -> str:
    """Add a key row; the key, returned once."""
    wanted = check_scopes(scopes)
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    session.add(
        ApiKeyRow(
            id=key_id,
            agency_id=agency_id,
            secret_hash=_digest(secret),
            scopes=wanted,
            label=label,
            created_at=now,
            revoked_at=None,
            **({} if expires_at is None else {"expires_at": expires_at}),
        )
    )
    return f"{PREFIX}_{key_id}_{secret}"


def _check_expiry(expires_at: int | None, now: int) -> None:
    if expires_at is not None and not now < expires_at <= now + MAX_LIFETIME:
        raise FieldError.single(
            "expires", "out_of_range",
            f"到期时间须晚于现在、且不超过五年，实际为 {iso(expires_at)}",
            f"expiry must be after now and at most five years ahead, found {iso(expires_at)}",
        )  # fmt: skip


def add_key(
    gw: Gateway,
    *,
    agency_id: str,
    scopes: Iterable[str],
    expires_at: int | None,
    label: str = "",
    actor: str,
) -> tuple[dict[str, Any], str]:
    """A new key of ``agency_id`` with ``scopes`` (any non-empty subset), expiring at
    ``expires_at`` (``None``: never); its listing and the key, shown once."""
    wanted = check_scopes(scopes)
    label = label.strip()
    if len(label) > MAX_LABEL:
        raise FieldError.single(
            "label", "length", f"备注最长 {MAX_LABEL} 个字符，实际 {len(label)}",
            f"label must be at most {MAX_LABEL} characters, found {len(label)}",
        )  # fmt: skip
    now = gw.clock()
    _check_expiry(expires_at, now)
    with gw.transaction() as session:
        if session.get(AgencyRow, agency_id) is None:
            raise NotFound(f"no agency {agency_id!r} at this gateway")
        key = new_api_key(session, agency_id=agency_id, scopes=wanted, now=now,
                          expires_at=expires_at, label=label)  # fmt: skip
        key_id = key.split("_", 2)[1]
        audit.record(session, at=now, actor=actor, action="apikey.add", subject=key_id,
                     agency_id=agency_id, scopes=wanted, expires_at=expires_at)  # fmt: skip
        session.flush()
        shown = _listing(_row(session, key_id), now)
    return shown, key


def _row(session: Session, key_id: str) -> ApiKeyRow:
    row = session.get(ApiKeyRow, key_id)
    if row is None:
        raise NotFound(f"no API key {key_id!r} at this gateway")
    return row


def _state(row: ApiKeyRow, now: int) -> str:
    if row.revoked_at is not None and row.revoked_at <= now:
        return "revoked"
    if row.expires_at is not None and row.expires_at <= now:
        return "expired"
    return "active"


def _listing(row: ApiKeyRow, now: int) -> dict[str, Any]:
    """What ``key list`` shows of a key: never its secret or its hash."""
    return {
        "id": row.id,
        "agency_id": row.agency_id,
        "scopes": list(row.scopes),
        "label": row.label,
        "created_at": iso(row.created_at),
        "expires_at": iso(row.expires_at),
        "last_used_at": iso(row.last_used_at),
        "revoked_at": iso(row.revoked_at),
        "replaced_by": row.replaced_by,
        "state": _state(row, now),
    }


def list_keys(gw: Gateway, agency_id: str | None = None) -> list[dict[str, Any]]:
    now = gw.clock()
    with gw.sessions() as session:
        query = select(ApiKeyRow).order_by(ApiKeyRow.created_at, ApiKeyRow.id)
        if agency_id is not None:
            query = query.where(ApiKeyRow.agency_id == agency_id)
        return [_listing(row, now) for row in session.scalars(query)]


def revoke_key(gw: Gateway, *, key_id: str, actor: str) -> dict[str, Any]:
    """Revoke a key now (a key revoked already is a conflict: its time stays the first)."""
    now = gw.clock()
    with gw.transaction() as session:
        row = _row(session, key_id)
        if row.revoked_at is not None and row.revoked_at <= now:
            raise Conflict(f"API key {key_id} was revoked already, at {iso(row.revoked_at)}")
        row.revoked_at = now
        audit.record(session, at=now, actor=actor, action="apikey.revoke", subject=key_id,
                     agency_id=row.agency_id)  # fmt: skip
        return _listing(row, now)


def rotate_key(
    gw: Gateway, *, key_id: str, grace: int = 0, actor: str
) -> tuple[dict[str, Any], str]:
    """A new secret for ``key_id``'s agency with the same scopes, expiry and label; the old key
    is revoked ``grace`` seconds from now (0: at once). The new key's listing and the key."""
    if not 0 <= grace <= MAX_GRACE:
        raise FieldError.single(
            "grace", "out_of_range", f"宽限期须为 0–{MAX_GRACE} 秒，实际为 {grace}",
            f"grace must be 0 to {MAX_GRACE} seconds, found {grace}",
        )  # fmt: skip
    now = gw.clock()
    with gw.transaction() as session:
        old = _row(session, key_id)
        if _state(old, now) != "active" or old.replaced_by is not None:
            raise Conflict(
                f"API key {key_id} is {_state(old, now)}"
                f"{', replaced by ' + old.replaced_by if old.replaced_by else ''}: "
                "rotate a key that is active and not yet replaced"
            )
        key = new_api_key(session, agency_id=old.agency_id, scopes=old.scopes, now=now,
                          expires_at=old.expires_at, label=old.label)  # fmt: skip
        new_id = key.split("_", 2)[1]
        old.replaced_by = new_id
        old.revoked_at = now + grace
        audit.record(
            session, at=now, actor=actor, action="apikey.rotate", subject=key_id,
            agency_id=old.agency_id, replaced_by=new_id, old_revoked_at=now + grace,
        )  # fmt: skip
        session.flush()
        return _listing(_row(session, new_id), now), key


def _key_query() -> Select[Any]:
    c = ApiKeyRow.__table__.c  # Core columns: a request's key read without ORM bookkeeping
    return select(
        c.id, c.agency_id, c.secret_hash, c.scopes, c.revoked_at, c.expires_at, c.last_used_at
    )


# Built once: building costs more CPU than running it. Read through a Core connection, a key's
# check cost ~220 µs of CPU against ~570 µs through a Session's ``get`` (issue 13's profile).
_KEY = _key_query().where(ApiKeyRow.__table__.c.id == bindparam("key_id"))


def authenticate(db: Connection | Session, presented: str, *, now: int) -> Principal:
    """Check an ``ek_<id>_<secret>`` API key at ``now``; :class:`KeyRefused` otherwise."""
    key_id = _key_id_or_refused(presented)
    return _checked(db.execute(_KEY, {"key_id": key_id}).first(), presented, now)


def _key_id_or_refused(presented: str) -> str:
    key_id = key_id_of(presented)
    if key_id is None:
        raise KeyRefused(
            "身份验证失败：接口密钥格式应为 ek_<id>_<secret>",
            "expected an API key of the form ek_<id>_<secret>",
            known=None,
        )
    return key_id


def _checked(row: Row[Any] | None, presented: str, now: int) -> Principal:
    """``presented`` against its key's row as read: the :class:`Principal`, or KeyRefused."""
    secret = presented.split("_", 2)[2]
    if row is None or not hmac.compare_digest(row.secret_hash, _digest(secret)):
        raise KeyRefused(
            "身份验证失败：接口密钥无效或已吊销",
            "unknown or revoked API key",
            known=None if row is None else row.id,
        )
    if row.revoked_at is not None and row.revoked_at <= now:
        raise KeyRefused(
            f"身份验证失败：该接口密钥已于 {iso(row.revoked_at)} 吊销",
            f"this API key was revoked at {iso(row.revoked_at)}: use its replacement",
            known=row.id,
        )
    if row.expires_at is not None and row.expires_at <= now:
        raise KeyRefused(
            f"身份验证失败：该接口密钥已于 {iso(row.expires_at)} 过期，请申请新的密钥",
            f"this API key expired at {iso(row.expires_at)}: ask for a new one "
            "(ecert agency key add)",
            known=row.id,
        )
    return Principal(
        agency_id=row.agency_id,
        key_id=row.id,
        scopes=frozenset(row.scopes),
        last_used_at=row.last_used_at,
    )


# --- keys checked again where they are used (issue 13) -------------------------------------------


@dataclass(frozen=True)
class Recheck:
    """A key a request was taken on, to be checked again in the transaction that acts on it:
    it must still authenticate, hold ``scope`` and belong to ``agency_id``."""

    presented: str
    scope: str
    agency_id: str


class KeyChanged(Exception):
    """A key, checked again in the acting transaction, no longer authenticates or allows what
    it was taken for (revoked, expired, replaced or deleted meanwhile). Nothing was written for
    its request; the caller answers it through the full check, which says why."""


_KEYS = _key_query().where(ApiKeyRow.__table__.c.id.in_(bindparam("key_ids", expanding=True)))


def recheck_many(db: Connection, wanted: Sequence[Recheck], *, now: int) -> list[KeyChanged | None]:
    """Each of ``wanted`` checked again against its key's row, read in ``db``'s transaction in
    one statement: None where it still holds, :class:`KeyChanged` where it does not."""
    ids = sorted({key_id for w in wanted if (key_id := key_id_of(w.presented)) is not None})
    rows = {row.id: row for row in db.execute(_KEYS, {"key_ids": ids})} if ids else {}
    verdicts: list[KeyChanged | None] = []
    for w in wanted:
        try:
            principal = _checked(rows.get(key_id_of(w.presented) or ""), w.presented, now)
        except KeyRefused as exc:
            verdicts.append(KeyChanged(f"{exc.message_zh} · {exc.message_en}"))
            continue
        if w.scope not in principal.scopes:
            verdicts.append(KeyChanged(f"接口密钥没有 {w.scope} 权限 · the key lacks the scope "
                                       f"{w.scope!r}"))  # fmt: skip
        elif principal.agency_id != w.agency_id:
            verdicts.append(KeyChanged(f"接口密钥不属于机构 {w.agency_id} · the key is not "
                                       f"agency {w.agency_id}'s"))  # fmt: skip
        else:
            verdicts.append(None)
    return verdicts


class KnownKeys:
    """The keys that authenticated in this process, by id: their agency, scopes and secret's
    hash, so that a request on one is taken without a statement of its own, and checked again
    (:func:`recheck_many`) in the transaction that acts on it, with the others of its group.

    Only a hint: a key is recognised when the secret presented hashes to the one remembered
    (a wrong secret is never taken on a remembered id: it goes to the full check, which counts
    the failure); whether it still holds is decided by the row read in the acting transaction,
    so a revocation takes effect there at once. Bounded: at most :attr:`MAX` keys, forgotten
    all at once when full (each is learnt again by its next full check)."""

    MAX = 10_000

    def __init__(self) -> None:
        self._known: dict[str, tuple[str, Principal]] = {}

    def learn(self, presented: str, principal: Principal) -> None:
        if len(self._known) >= self.MAX:
            self._known = {}
        self._known[principal.key_id] = (_digest(presented.split("_", 2)[2]), principal)

    def forget(self, presented: str) -> None:
        self._known.pop(key_id_of(presented) or "", None)

    def recognise(self, presented: str) -> Principal | None:
        """The remembered principal of ``presented`` when its secret is the one remembered."""
        key_id = key_id_of(presented)
        found = None if key_id is None else self._known.get(key_id)
        if found is None:
            return None
        digest, principal = found
        secret = presented.split("_", 2)[2]
        return principal if hmac.compare_digest(digest, _digest(secret)) else None


class LastUse:
    """Writes keys' last use, at most once a minute per key (see the module docstring)."""

    def __init__(self) -> None:
        self._written: dict[str, int] = {}
        self._lock = threading.Lock()

    def due(self, principal: Principal, now: int) -> bool:
        last = principal.last_used_at
        if last is not None and now - last < LAST_USE_EVERY:
            return False
        with self._lock:
            if now - self._written.get(principal.key_id, -LAST_USE_EVERY) < LAST_USE_EVERY:
                return False
            if len(self._written) > 10_000:  # bounded: forget the old ones
                self._written = {k: t for k, t in self._written.items() if now - t < LAST_USE_EVERY}
            self._written[principal.key_id] = now
        return True

    def note(self, gw: Gateway, principal: Principal) -> None:
        now = gw.clock()
        if self.due(principal, now):
            self.write(gw, principal, now)

    def write(self, gw: Gateway, principal: Principal, now: int) -> None:
        """The write :meth:`note` makes when :meth:`due` says so (a caller on an event loop asks
        :meth:`due` there and writes in a thread)."""
        with gw.transaction() as session:
            session.execute(
                update(ApiKeyRow)
                .where(ApiKeyRow.id == principal.key_id)
                .where(
                    or_(
                        ApiKeyRow.last_used_at.is_(None),
                        ApiKeyRow.last_used_at <= now - LAST_USE_EVERY,
                    )
                )
                .values(last_used_at=now)
            )
