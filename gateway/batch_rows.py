"""Register rows, each issued once by its content or ``ref``: plan a chunk, then write it.

A register row is known by its identity, ``row_key`` (issue 12): a hash of the type and its
``ref`` when the row has one, else of the type and subject. Its ``row_content`` is a hash of the
type, subject and dates as the row gave them (``IssueRequest.fingerprint``). Neither depends on
the file's name or the batch id: the same rows under another name are the same rows. Before,
a row was known only as ``{batch id}:{ref}`` and a register issued again under another name was
issued again (one company ended with 3 live licences).

:func:`issue_chunk` plans a chunk inside one transaction, holding the agency's row lock, and
each row comes out one of:

- already issued: a credential of the agency has the row's identity and the same content
  (or, issued before migration 0015, the row's ``batch_ref``): its id is answered, nothing new;
- refused: the row repeats an earlier row of the chunk, names an issued credential with other
  content (a ref reused for another certificate, or the same subject with other dates), fails
  validation, or gives a holder a second live credential of a type that allows one
  (:mod:`gateway.holder_rule`);
- issued now.

With ``all_or_nothing`` a refused row stops the chunk (nothing is written); without it the good
rows are issued and the refused ones reported. The database holds the rule: a unique key on
``(agency_id, row_key)`` (migration 0015) beside the one on ``(agency_id, batch_ref)``.

Deliberately not here: reading a register (``cli.batch_register``), the HTTP and result-file
faces (:mod:`gateway.batch_issue`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Select, Table, bindparam, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway import holder_rule, value_lists
from gateway.core import Gateway
from gateway.db import WRITE_OPTION
from gateway.errors import Conflict, NotFound
from gateway.issuance import (
    MAX_BATCH,
    IssueRequest,
    Prepared,
    _write,
    canonical_text,
    insert_minted,
    load_signer,
    one_writer,
    prepare,
    short_text,
)
from gateway.models import AgencyRow, CredentialRow
from gateway.presign import Presigned
from issuers.qr import qr_text
from trust.errors import FieldError

_RETRIES = 3
_STEP = 500  # keys per IN (…)

# How a message names another row of the chunk: (zh-CN, English) for a position.
Label = Callable[[int], tuple[str, str]]
# Each request's subject as validated earlier in the run (None: not validated yet), or None.
Validated = Sequence[dict[str, Any] | None] | None


def row_key(type_: str, subject: Any, ref: str | None, *, subject_text: str | None = None) -> str:
    """A register row's identity: its ``ref`` within the type, else its type and subject.
    ``subject_text``: ``canonical_text(subject)``, when the caller made it already."""
    if ref:
        body = json.dumps(["ref", type_, ref], ensure_ascii=False)
        return "r:" + hashlib.sha256(body.encode()).hexdigest()
    if subject_text is None:
        subject_text = canonical_text(subject)
    # canonical_text([type_, subject]), written around the subject's text
    body = f"[{short_text(type_)}, {subject_text}]"
    return "c:" + hashlib.sha256(body.encode()).hexdigest()


@dataclass
class Outcome:
    """What became of one request of a chunk: issued now, already issued, or refused."""

    position: int
    id: str | None = None
    identifier: str | None = None
    qr_text: str | None = None
    already: bool = False
    problems: list[dict[str, str]] = field(default_factory=list)


@dataclass
class _Plan:
    request: IssueRequest
    existing: CredentialRow | None = None
    prepared: Prepared | None = None
    problems: list[dict[str, str]] = field(default_factory=list)


def _error(field_: str, code: str, zh: str, en: str) -> dict[str, str]:
    return {"field": field_, "code": code, "message": zh, "message_en": en}


def _repeats(plans: list[_Plan], label: Label) -> None:
    first_ref: dict[str, int] = {}
    first_key: dict[str, int] = {}
    for position, plan in enumerate(plans):
        request = plan.request
        for value, seen_at, what in (
            (request.batch_ref, first_ref, "batch_ref"),
            (request.row_key, first_key, "row"),
        ):
            if value is None:
                continue
            seen = seen_at.setdefault(value, position)
            if seen != position:
                zh, en = label(seen)
                same_zh, same_en = (
                    ("batch_ref 相同", "batch_ref")
                    if what == "batch_ref"
                    else ("ref 相同，或类型和主体相同", "ref, or type and subject")
                )
                plan.problems.append(
                    _error(
                        what,
                        "duplicate",
                        f"与{zh}为同一证照（{same_zh}），每张证照只列一次：删除其一，"
                        "或为每行填写不同的 ref",
                        f"expected each certificate once, found the certificate of {en} again "
                        f"(the same {same_en})",
                    )
                )
                break


def _existing(session: Session, agency_id: str, plans: list[_Plan]) -> None:
    refs = sorted({p.request.batch_ref for p in plans if p.request.batch_ref})
    keys = sorted({p.request.row_key for p in plans if p.request.row_key})
    by_ref: dict[str, CredentialRow] = {}
    by_key: dict[str, CredentialRow] = {}
    postgres = session.get_bind().dialect.name == "postgresql"
    for values, by in ((refs, "batch_ref"), (keys, "row_key")):
        step = (len(values) or 1) if postgres else _STEP  # one array on PostgreSQL
        for start in range(0, len(values), step):
            query = _ISSUED[(by, postgres)]
            found = session.execute(
                query, {"agency_id": agency_id, "values": values[start : start + step]}
            )
            for cid, identifier, token, batch_ref, key, content in found:
                # Detached, of the columns read: only these are looked at (nothing lazy).
                row = CredentialRow(id=cid, identifier=identifier, token=token,
                                    batch_ref=batch_ref, row_key=key,
                                    row_content=content)  # fmt: skip
                if batch_ref is not None:
                    by_ref[batch_ref] = row
                if key is not None:
                    by_key[key] = row
    for plan in plans:
        if plan.problems:
            continue
        request = plan.request
        match = (by_key.get(request.row_key) if request.row_key else None) or (
            by_ref.get(request.batch_ref) if request.batch_ref else None
        )
        if match is None:
            continue
        if match.row_content is not None and match.row_content != request.fingerprint():
            plan.problems.append(
                _error(
                    "ref" if request.row_key and request.row_key.startswith("r:") else "row",
                    "row_changed",
                    f"此行已签发为证照 {match.id}（{match.identifier}），但内容与当时不同"
                    "（同一 ref，或同一类型和主体而日期不同）；如是另一张证照，请填写新的 ref",
                    f"expected this row as issued before (credential {match.id}, "
                    f"{match.identifier}), found other content under the same identity (the "
                    "same ref, or the same type and subject with other dates); give another "
                    "certificate its own ref",
                )
            )
        else:
            plan.existing = match


def _issued_query(by: str, *, postgres: bool) -> Select[Any]:
    """The agency's credentials whose ``by`` (``batch_ref`` or ``row_key``) is one of
    ``values`` (:func:`gateway.value_lists.one_of`: on PostgreSQL one parameter however many
    values; a 500-value ``IN`` cost psycopg more CPU to bind than the server took to answer,
    issue 13). Only the columns a plan reads."""
    c = _CREDENTIALS.c
    match = value_lists.one_of(c[by], "values", postgres=postgres)
    return select(c.id, c.identifier, c.token, c.batch_ref, c.row_key, c.row_content).where(
        c.agency_id == bindparam("agency_id"), match
    )


_CREDENTIALS = cast(Table, CredentialRow.__table__)
# Built once: building a statement costs more CPU than running it (issue 13's profile).
_ISSUED = {
    (by, postgres): _issued_query(by, postgres=postgres)
    for by in ("batch_ref", "row_key")
    for postgres in (False, True)
}


def _validate(
    gw: Gateway,
    agency: AgencyRow,
    plans: list[_Plan],
    now: int,
    validated: Validated,
    signed: Presigned | None,
) -> None:
    ahead = {} if signed is None else signed.prepared()
    for position, plan in enumerate(plans):
        if plan.problems or plan.existing is not None:
            continue
        subject = None if validated is None else validated[position]
        ready = ahead.get(position)
        if (
            ready is not None
            and ready.request is plan.request
            and ready.subject is subject
            and ready.ctype.code in agency.types
        ):
            # Prepared when it was signed, as of this same ``now`` (Presigned.now), from this
            # same request and validated subject: prepare() would answer the same again.
            plan.prepared = ready
            continue
        try:
            plan.prepared = prepare(gw, agency, plan.request, now, validated_subject=subject)
        except FieldError as exc:
            plan.problems.extend(exc.errors)


def _this_row(session: Session, credential_id: str, request: IssueRequest) -> CredentialRow | None:
    """The credential ``credential_id`` if it is ``request``'s own row, issued as it is now."""
    row = session.get(CredentialRow, credential_id)
    if row is None:
        return None
    same_key = request.row_key is not None and row.row_key == request.row_key
    same_ref = request.batch_ref is not None and row.batch_ref == request.batch_ref
    unchanged = row.row_content is None or row.row_content == request.fingerprint()
    return row if (same_key or same_ref) and unchanged else None


def _one_per_holder(session: Session, plans: list[_Plan], now: int, label: Label) -> None:
    by_type: dict[str, list[tuple[int, _Plan, Prepared]]] = {}
    for position, plan in enumerate(plans):
        ready = plan.prepared
        if ready is not None and not ready.ctype.several_live_per_holder:
            by_type.setdefault(ready.ctype.code, []).append((position, plan, ready))
    for group in by_type.values():
        ctype = group[0][2].ctype
        holders = {i: holder_rule.holder_of(ctype, ready.subject) for i, _, ready in group}
        live = holder_rule.live_for(session, ctype=ctype, holders=holders.values(), now=now)
        first: dict[str, int] = {}
        for position, plan, _ in group:
            holder = holders[position]
            if holder in live and (same := _this_row(session, live[holder], plan.request)):
                # Issued by a run at the same time, after _existing looked (CI: a second run
                # 1.5 s behind the first refused the first's rows as "holds a live licence").
                plan.existing, plan.prepared = same, None
                continue
            if holder in live:
                plan.problems.append(holder_rule.already_holds(ctype, live_id=live[holder]))
            elif (seen := first.setdefault(holder, position)) != position:
                plan.problems.append(holder_rule.twice_in_batch(ctype, first=label(seen)))
            if plan.problems:
                plan.prepared = None


def plan_chunk(
    gw: Gateway,
    session: Session,
    agency: AgencyRow,
    requests: Sequence[IssueRequest],
    now: int,
    label: Label,
    validated: Validated = None,
    signed: Presigned | None = None,
) -> list[_Plan]:
    """Each request's fate, read from the database; writes nothing. ``validated``: for each
    request, its subject as validated earlier in this run, or None to validate it here.
    ``signed``: the chunk's rows signed ahead, whose preparation is taken as it was."""
    plans = [_Plan(r) for r in requests]
    _repeats(plans, label)
    _existing(session, agency.id, plans)
    _validate(gw, agency, plans, now, validated, signed)
    _one_per_holder(session, plans, now, label)
    return plans


@dataclass(frozen=True)
class Checked:
    """One request as a register's first pass found it: its problems, and its validated
    subject (None when it was not validated: a problem, or a row issued before)."""

    problems: list[dict[str, str]]
    subject: dict[str, Any] | None


def check_rows(
    gw: Gateway, *, agency_id: str, requests: Sequence[IssueRequest], label: Label
) -> list[Checked]:
    """Each request's problems as :func:`issue_chunk` would find them now, and the subject it
    validated, without a lock and without writing (a register's first pass: a bad row anywhere
    issues nothing; the second hands the subjects back to :func:`issue_chunk`)."""
    with gw.sessions() as session:
        agency = session.get(AgencyRow, agency_id)
        if agency is None:
            raise NotFound(f"no agency {agency_id!r}")
        plans = plan_chunk(gw, session, agency, requests, gw.clock(), label)
        return [
            Checked(p.problems, None if p.prepared is None else p.prepared.subject) for p in plans
        ]


def check_chunk(
    gw: Gateway, *, agency_id: str, requests: Sequence[IssueRequest], label: Label
) -> list[list[dict[str, str]]]:
    """Each request's problems (:func:`check_rows`)."""
    return [c.problems for c in check_rows(gw, agency_id=agency_id, requests=requests, label=label)]


def issue_chunk(
    gw: Gateway,
    *,
    agency_id: str,
    requests: Sequence[IssueRequest],
    label: Label,
    all_or_nothing: bool,
    actor: str | None = None,
    validated: Validated = None,
    presigned: Presigned | None = None,
) -> tuple[list[Outcome], list[dict[str, Any]]]:
    """Issue a chunk in one transaction: each request's :class:`Outcome`, in order, and the
    rows written. With ``all_or_nothing`` a refused row writes nothing (every outcome is then
    reported, the good rows with no id). ``actor`` is who the audit log names (default: the
    agency). ``validated``: each request's subject as :func:`check_rows` validated it earlier in
    this run (None: validate it here). ``presigned``: rows signed ahead for this chunk
    (:mod:`gateway.presign`): the chunk is planned as of the moment they were signed and they
    are inserted when the plan issues exactly them; otherwise they are dropped and the chunk
    is signed here."""
    if len(requests) > MAX_BATCH:
        raise FieldError.single(
            "batch", "size", f"每批最多 {MAX_BATCH} 条，实际 {len(requests)} 条",
            f"expected at most {MAX_BATCH} rows, found {len(requests)}",
        )  # fmt: skip
    keep_statistics(gw)
    for attempt in range(_RETRIES):
        now = gw.clock() if presigned is None else presigned.now
        try:
            with one_writer(gw), gw.transaction() as session:
                # Lock, then read what is issued: a run that waited here sees every row the run
                # before it committed (issue 8). NO KEY UPDATE: it does not block the key-share
                # locks that inserting credentials takes.
                signer = load_signer(session, agency_id, lock=True)
                plans = plan_chunk(
                    gw, session, signer.agency, requests, now, label, validated, presigned
                )
                refused = any(p.problems for p in plans)
                todo = [p.prepared for p in plans if p.prepared is not None]
                written: list[dict[str, Any]] = []
                change = None
                if todo and not (all_or_nothing and refused):
                    if presigned is not None and presigned.matches(
                        signer, [p.prepared for p in plans]
                    ):
                        written = insert_minted(
                            session, signer.agency, iter(presigned.rows), len(todo), now, actor
                        )
                    else:
                        written, change = _write(gw, session, signer, todo, now, actor)
                outcomes = _outcomes(gw, plans, written)
            gw.live.changed(change)
            return outcomes, written
        except IntegrityError as exc:
            # A status slot, a 流水号 year or a row taken by another process at the same
            # moment (one that skipped the lock): start over, which re-reads and signs here.
            gw.slots.forget()
            presigned = None
            if attempt == _RETRIES - 1:
                raise Conflict(
                    f"其他进程同时在签发，{_RETRIES} 次重试均冲突，本批未签发；请重新运行以续签 · "
                    f"expected to issue this chunk, found it conflicting with another process "
                    f"{_RETRIES} times; nothing in it was issued, re-run to resume"
                ) from exc
    raise AssertionError("unreachable")  # pragma: no cover


# ANALYZE credentials once this many rows changed since the last one, and half as many as it
# had then (a doubling: ~20 ANALYZEs from 0 to 1M rows; PostgreSQL samples 30k rows each,
# SQLite at most _SQLITE_SAMPLE an index, ~15 ms).
_STALE_ROWS, _STALE_SHARE = 1000, 0.5
_SQLITE_SAMPLE = 1000
# PostgreSQL: the rows now and the rows the last ANALYZE counted. (Not n_mod_since_analyze: an
# ANALYZE of some columns leaves it as it was, and the batch analyses only the columns it looks
# rows up by.)
_STALENESS = text(
    "SELECT s.n_live_tup - greatest(c.reltuples, 0), c.reltuples FROM pg_stat_user_tables s "
    "JOIN pg_class c ON c.oid = s.relid WHERE s.relid = 'credentials'::regclass"
)
# What a chunk's look-ups filter on: "already issued?" (agency_id, batch_ref, row_key) and the
# holder rule (type, holder_code, status_code, delegated_from, valid_until). Only these are
# sampled: a third of the time of a whole-table ANALYZE (the token and subject columns are
# the wide ones); autovacuum's own ANALYZE keeps the others.
_ANALYZE = text(
    "ANALYZE credentials (agency_id, batch_ref, row_key, type, holder_code, status_code, "
    "delegated_from, valid_until)"
)
# SQLite: the rows the last ANALYZE counted (sqlite_stat1: "rows, rows a key prefix…" an index;
# sampled at analysis_limit, each index's count is an estimate, 11,817 to 20,496 of 20,001 rows:
# the largest is taken), and the rows now: the largest rowid, as issuing adds rows and deletes
# none (max(rowid) reads one page; count(*) would read the table).
_SQLITE_STAT = text("SELECT max(CAST(stat AS INTEGER)) FROM sqlite_stat1 WHERE tbl = 'credentials'")
_SQLITE_HAS_STAT = text(
    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat1'"
)
_SQLITE_ROWS = text("SELECT max(rowid) FROM credentials")


def keep_statistics(gw: Gateway) -> bool:
    """``ANALYZE credentials`` (on PostgreSQL, of the columns a chunk looks rows up by) when
    its statistics are stale; whether it did.

    Issue 13: a 100k register slowed from 0.14 s to 1.8 s a chunk on PostgreSQL. With no
    statistics (or those of a table a tenth its size) the planner takes ``row_key IN (500
    keys)`` or ``holder_code IN (…)`` to match most rows, and reads every credential of the
    agency or type through ``ix_credentials_agency_type`` instead of looking each key up in its
    unique index. Autovacuum analyses a table a minute at best (or never, when it is off); a
    batch adds thousands of rows a second. SQLite, with no statistics at all, looked a chunk's
    holders up through ``ix_credentials_delegated_from`` (``delegated_from IS NULL``: every
    row): 18 ms a look-up of 500 holders at 12k credentials, growing with the table; 0.2 ms
    through ``ix_credentials_holder_code`` once analysed. The ANALYZE runs in its own
    transaction, before the chunk's, so it holds no lock while the chunk is written.
    """
    name = gw.engine.dialect.name
    if name == "postgresql":
        return _keep_postgres(gw)
    if name == "sqlite":
        return _keep_sqlite(gw)
    return False


def _stale(changed: float, rows: float) -> bool:
    return changed >= _STALE_ROWS and changed >= _STALE_SHARE * rows


def _keep_postgres(gw: Gateway) -> bool:
    with gw.engine.connect() as conn:
        found = conn.execute(_STALENESS).first()
        if found is None:
            return False
        changed, rows = max(float(found[0] or 0), 0.0), max(float(found[1] or 0), 0.0)
        conn.rollback()
        if not _stale(changed, rows):
            return False
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(_ANALYZE)
    return True


def _keep_sqlite(gw: Gateway) -> bool:
    with gw.engine.connect() as conn:
        rows = int(conn.execute(_SQLITE_ROWS).scalar() or 0)
        stat = (
            conn.execute(_SQLITE_STAT).scalar() if conn.execute(_SQLITE_HAS_STAT).first() else None
        )
        conn.rollback()
        counted = int(str(stat).split()[0]) if stat else 0
        if not _stale(rows - counted, counted):
            return False
        writing = conn.execution_options(**{WRITE_OPTION: True})  # BEGIN IMMEDIATE: a write
        writing.exec_driver_sql(f"PRAGMA analysis_limit = {_SQLITE_SAMPLE}")
        try:
            writing.execute(text("ANALYZE credentials"))
            writing.commit()
        finally:
            writing.exec_driver_sql("PRAGMA analysis_limit = 0")
            writing.commit()
    return True


def _outcomes(gw: Gateway, plans: list[_Plan], written: list[dict[str, Any]]) -> list[Outcome]:
    made = iter(written)
    out = []
    for position, plan in enumerate(plans):
        outcome = Outcome(position, problems=plan.problems)
        if plan.existing is not None:
            row = plan.existing
            outcome.id, outcome.identifier, outcome.already = row.id, row.identifier, True
            outcome.qr_text = qr_text(gw.public_url, row.token)
        elif plan.prepared is not None and written:
            values = next(made)
            outcome.id, outcome.identifier = values["id"], values["identifier"]
            outcome.qr_text = qr_text(gw.public_url, values["token"])
        out.append(outcome)
    return out
