"""Console operators and their sessions: who may sign in to ``/console``, and how.

An operator belongs to one agency and signs in with a username (unique at this gateway), a
password and a one-time code (TOTP, RFC 6238: 6 digits, 30-second steps, one step of clock
drift either way).

- Passwords are hashed with **argon2id** (``argon2-cffi``, RFC 9106; its ``PasswordHasher``
  defaults: 64 MiB, 3 passes). Chosen over the standard library's scrypt because the hash
  string carries its own parameters (PHC format), so they can be raised later and old hashes
  still verify, and because it is the first choice of OWASP's password storage guidance.
- A code is accepted once: the step it belongs to is stored, and a code of that step or an
  earlier one is refused (a replay in the same 30 seconds included). The store is a
  conditional UPDATE, so two sign-ins racing with one code cannot both win.
- Every sign-in, failure and lockout is an audit event (``console.sign_in``,
  ``console.sign_in_failed``, ``console.lockout``; ids and hashes only). Failures spend the
  same budgets as failed API keys (``gateway.auth_guard``, kind ``operator``), and
  ``MAX_FAILED`` consecutive failures disable the operator until ``ecert agency operator
  enable``.
- A session is an opaque random id (256 bits) in a cookie; the database keeps its SHA-256. It
  ends after ``ECERT_CONSOLE_SESSION_IDLE`` seconds without a request or
  ``ECERT_CONSOLE_SESSION_MAX`` after sign-in, at sign-out, or when its operator is disabled.
  The CSRF token of a session is an HMAC of its id (:func:`csrf_token`), so it needs no column.

Deliberately not here: HTTP (cookies, the CSRF and Origin checks: ``gateway.console_http``).
The TOTP secret is stored as it is (a reader of the database could compute codes, but still
needs the password, which it cannot get from the hash); sealing it under the key passphrase is
the key ring's business and is not done yet.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from gateway import audit, auth_guard
from gateway.clock import iso
from gateway.core import Gateway
from gateway.errors import Conflict, NotFound, Unauthorised
from gateway.models import AgencyRow, OperatorRow, OperatorSessionRow
from gateway.ratelimit import Limiter
from trust.errors import FieldError

USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{2,63}")
MIN_PASSWORD, MAX_PASSWORD = 12, 256
MAX_FAILED = 10  # consecutive failed sign-ins that disable an operator
STEP = 30  # seconds a TOTP code lives (RFC 6238 §4.1 X)
DRIFT = 1  # steps of clock drift accepted either way (RFC 6238 §5.2)
TOUCH_EVERY = 60  # seconds: a session's last use is written at most this often
KIND = "operator"  # the auth_guard budget kind
_hasher = PasswordHasher()
_NOBODY = _hasher.hash(secrets.token_urlsafe(16))  # verified against when no such operator


@dataclass(frozen=True)
class Operator:
    id: str
    agency_id: str
    agency_name: str
    username: str

    @property
    def actor(self) -> str:
        return f"operator:{self.id}"

    def as_dict(self) -> dict[str, str]:
        return {
            "id": self.id,
            "username": self.username,
            "agency_id": self.agency_id,
            "agency_name": self.agency_name,
        }


class SignInRefused(Unauthorised):
    """A sign-in or a session that does not authenticate, said in zh-CN and English."""

    def __init__(self, message_zh: str, message_en: str, *, reason: str) -> None:
        super().__init__(message_en)
        self.message_zh = message_zh
        self.message_en = message_en
        self.reason = reason


def _bad_credentials() -> SignInRefused:
    return SignInRefused(
        "用户名或密码错误", "unknown username or wrong password", reason="bad_password"
    )


def check_username(username: str) -> str:
    if not USERNAME.fullmatch(username):
        raise FieldError.single(
            "username",
            "format",
            "用户名须为 3–64 个小写字母、数字或 . _ -（以字母或数字开头），"
            f"实际为 {username[:70]!r}",
            f"expected a username of 3-64 characters a-z 0-9 . _ - starting with a letter or "
            f"digit, found {username[:70]!r}",
        )
    return username


def check_password(password: str) -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise FieldError.single(
            "password",
            "length",
            f"密码长度须为 {MIN_PASSWORD}–{MAX_PASSWORD} 个字符，实际为 {len(password)}",
            f"expected a password of {MIN_PASSWORD} to {MAX_PASSWORD} characters, "
            f"found {len(password)}",
        )
    return password


def _listing(row: OperatorRow) -> dict[str, Any]:
    """What ``operator list`` shows: never the password hash or the TOTP secret."""
    return {
        "id": row.id,
        "agency_id": row.agency_id,
        "username": row.username,
        "state": "disabled" if row.disabled_at is not None else "active",
        "failed_attempts": row.failed_attempts,
        "created_at": iso(row.created_at),
        "disabled_at": iso(row.disabled_at),
        "last_sign_in_at": iso(row.last_sign_in_at),
    }


def add_operator(
    gw: Gateway, *, agency_id: str, username: str, password: str, actor: str
) -> tuple[dict[str, Any], str]:
    """A new operator of ``agency_id``; its listing and its TOTP provisioning URI (shown once,
    for an authenticator app)."""
    check_username(username)
    check_password(password)
    hashed = _hasher.hash(password)
    secret = pyotp.random_base32()
    now = gw.clock()
    with gw.transaction() as session:
        agency = session.get(AgencyRow, agency_id)
        if agency is None:
            raise NotFound(f"no agency {agency_id!r} at this gateway")
        taken = session.scalars(select(OperatorRow.id).where(OperatorRow.username == username))
        if taken.first() is not None:
            raise Conflict(f"用户名 {username} 已被使用 · the username {username!r} is taken")
        row = OperatorRow(
            id="op-" + secrets.token_hex(6),
            agency_id=agency_id,
            username=username,
            password_hash=hashed,
            totp_secret=secret,
            totp_last_step=None,
            failed_attempts=0,
            disabled_at=None,
            created_at=now,
            last_sign_in_at=None,
        )
        session.add(row)
        audit.record(
            session,
            at=now,
            actor=actor,
            action="console.operator_add",
            subject=row.id,
            agency_id=agency_id,
        )
        session.flush()
        uri = pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=agency.name)
        return _listing(row), uri


def list_operators(gw: Gateway, agency_id: str | None = None) -> list[dict[str, Any]]:
    with gw.sessions() as session:
        query = select(OperatorRow).order_by(OperatorRow.created_at, OperatorRow.username)
        if agency_id is not None:
            query = query.where(OperatorRow.agency_id == agency_id)
        return [_listing(row) for row in session.scalars(query)]


def set_disabled(gw: Gateway, *, username: str, disabled: bool, actor: str) -> dict[str, Any]:
    """Disable an operator (its sessions end at once) or enable it again (its failed
    sign-ins count from zero)."""
    now = gw.clock()
    with gw.transaction() as session:
        row = session.scalars(select(OperatorRow).where(OperatorRow.username == username)).first()
        if row is None:
            raise NotFound(f"no operator {username!r} at this gateway")
        if disabled:
            row.disabled_at = row.disabled_at or now
            session.execute(
                update(OperatorSessionRow)
                .where(OperatorSessionRow.operator_id == row.id)
                .where(OperatorSessionRow.revoked_at.is_(None))
                .values(revoked_at=now)
            )
        else:
            row.disabled_at = None
            row.failed_attempts = 0
        action = "console.operator_disable" if disabled else "console.operator_enable"
        audit.record(
            session, at=now, actor=actor, action=action, subject=row.id, agency_id=row.agency_id
        )
        return _listing(row)


def matching_step(secret: str, code: str, now: int) -> int | None:
    """The time step (RFC 6238 T) within ``DRIFT`` of ``now`` whose code is ``code``."""
    totp = pyotp.TOTP(secret, interval=STEP)
    current = now // STEP
    found = None
    for step in range(current - DRIFT, current + DRIFT + 1):
        if hmac.compare_digest(totp.at(step * STEP), code):
            found = step
    return found


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def csrf_token(session_id: str) -> str:
    """The CSRF token of a session: an HMAC of its id, which only the cookie holds."""
    return hmac.new(session_id.encode(), b"ecert-console-csrf", hashlib.sha256).hexdigest()


def sign_in(
    gw: Gateway, limiter: Limiter, *, username: str, password: str, code: str, address: str
) -> tuple[Operator, str, int]:
    """Check username, password and TOTP code; a new session: the operator, the session id
    (for the cookie, never stored) and when it ends at the latest. :class:`SignInRefused`
    otherwise (counted, audited)."""
    with gw.sessions() as session:
        row = session.scalars(select(OperatorRow).where(OperatorRow.username == username)).first()
        agency = session.get(AgencyRow, row.agency_id) if row is not None else None
        known = row.id if row is not None else None
        auth_guard.refuse_if_locked(limiter, kind=KIND, key_id=known, address=address)
        stored = (row.password_hash, row.totp_secret, row.disabled_at) if row else None
    now = gw.clock()
    refusal: SignInRefused | None = None
    step: int | None = None
    try:
        _hasher.verify(stored[0] if stored else _NOBODY, password)
    except (VerificationError, InvalidHashError):
        refusal = _bad_credentials()
    if stored is None:
        refusal = _bad_credentials()
    elif refusal is None and stored[2] is not None:
        refusal = SignInRefused(
            "该操作员账号已停用，请联系管理员",
            "this operator is disabled; ask an administrator "
            "to enable it (ecert agency operator enable)",
            reason="disabled",
        )
    elif refusal is None:
        step = matching_step(stored[1], code, now)
        if step is None:
            refusal = SignInRefused(
                "动态验证码错误或已过期", "wrong or expired one-time code", reason="bad_code"
            )
    session_id = secrets.token_urlsafe(32)
    expires = now + gw.settings.console_session_max
    with gw.transaction() as session:
        if refusal is None and row is not None and step is not None:
            taken = session.execute(
                update(OperatorRow)
                .where(OperatorRow.id == row.id)
                .where(or_(OperatorRow.totp_last_step.is_(None), OperatorRow.totp_last_step < step))
                .values(totp_last_step=step, failed_attempts=0, last_sign_in_at=now)
            )
            if getattr(taken, "rowcount", 0) != 1:
                refusal = SignInRefused(
                    "该动态验证码已使用过，请等待下一个验证码",
                    "this one-time code was used already; wait for the next one",
                    reason="code_replayed",
                )
        if refusal is None and row is not None:
            session.add(
                OperatorSessionRow(
                    id_hash=_digest(session_id),
                    operator_id=row.id,
                    created_at=now,
                    last_seen_at=now,
                    expires_at=expires,
                    revoked_at=None,
                )
            )
            audit.record(
                session,
                at=now,
                actor=f"operator:{row.id}",
                action="console.sign_in",
                subject=row.id,
                agency_id=row.agency_id,
            )
        else:
            _count_failure(session, known, now=now, address=address, refusal=refusal)
    if refusal is not None:
        auth_guard.failed(gw, limiter, kind=KIND, known=known, address=address)
        raise refusal
    assert row is not None
    assert agency is not None
    return Operator(row.id, row.agency_id, agency.name, row.username), session_id, expires


def _count_failure(
    session: Session, known: str | None, *, now: int, address: str, refusal: SignInRefused | None
) -> None:
    who = f"address:{auth_guard.address_hash(address)}"
    reason = refusal.reason if refusal is not None else "unknown"
    audit.record(
        session,
        at=now,
        actor=who,
        action="console.sign_in_failed",
        subject=known or "unknown",
        reason=reason,
    )
    if known is None:
        return
    row = session.get(OperatorRow, known, with_for_update=True)
    assert row is not None
    row.failed_attempts += 1
    if row.failed_attempts >= MAX_FAILED and row.disabled_at is None:
        row.disabled_at = now
        audit.record(
            session,
            at=now,
            actor=who,
            action="console.lockout",
            subject=known,
            failed_attempts=row.failed_attempts,
        )


def session_of(gw: Gateway, session_id: str) -> Operator:
    """The operator of a live session; :class:`SignInRefused` when it ended (idle, absolute,
    signed out, operator disabled) or never was."""
    now = gw.clock()
    digest = _digest(session_id)
    with gw.sessions() as session:
        found = session.execute(
            select(OperatorSessionRow, OperatorRow, AgencyRow)
            .join(OperatorRow, OperatorRow.id == OperatorSessionRow.operator_id)
            .join(AgencyRow, AgencyRow.id == OperatorRow.agency_id)
            .where(OperatorSessionRow.id_hash == digest)
        ).first()
        if found is None:
            raise SignInRefused(
                "未登录或登录已失效，请重新登录",
                "not signed in (or the session ended); sign in again",
                reason="no_session",
            )
        row, operator, agency = found
        idle_end = row.last_seen_at + gw.settings.console_session_idle
        if row.revoked_at is not None or operator.disabled_at is not None:
            raise SignInRefused(
                "登录已失效（已退出或账号已停用），请重新登录",
                "the session was signed out or its operator disabled; sign in again",
                reason="session_revoked",
            )
        if now >= min(row.expires_at, idle_end):
            raise SignInRefused(
                f"登录已于 {iso(min(row.expires_at, idle_end))} 过期，请重新登录",
                f"the session expired at {iso(min(row.expires_at, idle_end))}; sign in again",
                reason="session_expired",
            )
        seen = row.last_seen_at
        who = Operator(operator.id, operator.agency_id, agency.name, operator.username)
    if now - seen >= TOUCH_EVERY:  # idle expiry slides, written at most once a minute
        with gw.transaction() as session:
            session.execute(
                update(OperatorSessionRow)
                .where(OperatorSessionRow.id_hash == digest)
                .where(OperatorSessionRow.last_seen_at < now)
                .values(last_seen_at=now)
            )
    return who


def sign_out(gw: Gateway, session_id: str) -> None:
    """End a session (nothing happens for one that is not live)."""
    now = gw.clock()
    with gw.transaction() as session:
        row = session.get(OperatorSessionRow, _digest(session_id))
        if row is None or row.revoked_at is not None:
            return
        row.revoked_at = now
        audit.record(
            session,
            at=now,
            actor=f"operator:{row.operator_id}",
            action="console.sign_out",
            subject=row.operator_id,
        )
