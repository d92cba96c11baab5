"""``ecert region …``: bilateral agreements between regions, made on a region trust anchor, and
the trust marks by which the anchor grants counters a verifier role (``region trust-mark``).

What it does: fetch the other region's anchor and pin its keys (:mod:`cli.federation_common`),
then record through ``gateway.federation`` which of its credential types this region accepts and
under which named policy; ``accept`` changes that set later. Each change goes to the audit log.

What it deliberately does not do: make trust transitive (an agreement names one anchor and is
not passed on), or change a region's pinned keys without an explicit ``--anchor-kid``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from cli.common import DEFAULT_DATA_DIR, DataDir, JsonOut, emit_json, gateway_at, say
from cli.federation_common import (
    AnchorKids,
    AnchorUrl,
    Policy,
    Types,
    actor,
    check_continuity,
    entity_id,
    fetch_anchor,
    fetcher,
    known_types,
    subordinate_json,
    type_list,
    warn_first_use,
)
from gateway import federation, trustmarks
from gateway.core import Gateway
from gateway.errors import Conflict, NotFound
from gateway.models import IssuedTrustMarkRow, SubordinateRow
from trust.errors import DataError
from trust.federation import Acceptance, FederationError

region_app = typer.Typer(
    help="Cross-region agreements (on a region trust anchor). 跨区域互认", no_args_is_help=True
)


def _agreement(gw: Gateway, policy: str, types: str) -> list[str]:
    accepted = known_types(gw, type_list(types))
    try:
        Acceptance(policy=policy, credential_types=frozenset(accepted))
    except FederationError as exc:
        raise DataError(f"--policy/--types: {exc}") from exc
    return accepted


def _region_out(row: SubordinateRow, *, first_use: bool) -> dict[str, Any]:
    return {**subordinate_json(row), "trust_on_first_use": first_use}


def _say_region(row: SubordinateRow) -> None:
    accepted = ", ".join(row.credential_types) or "nothing"
    say(f"{row.entity_id} ({row.name}): policy {row.policy} accepts {accepted} · 跨区域互认")


@region_app.command("trust-add")
def trust_add(
    anchor: AnchorUrl,
    name: Annotated[str, typer.Option("--name", help="the other region's name, e.g. 京津冀")],
    policy: Policy,
    types: Types,
    anchor_kid: AnchorKids = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: JsonOut = False,
) -> None:
    """Anchor: trust another region's anchor for some of its types. 新增跨区域互认"""
    with fetcher() as http, gateway_at(data_dir) as gw:
        accepted = _agreement(gw, policy, types)
        fetched = fetch_anchor(http, anchor, kids=anchor_kid or [], now=gw.clock())
        with gw.sessions() as session:
            fed = federation.config(session)
            existing = session.get(SubordinateRow, fetched.entity_id)
        if fetched.entity_id == fed.entity_id:
            raise Conflict(f"{fed.entity_id} is this gateway: a region does not trust itself")
        if existing is not None and existing.kind != "region":
            raise Conflict(f"{fetched.entity_id} is a {existing.kind} of this region, not a region")
        first_use = fetched.on_first_use and existing is None
        if existing is not None and not anchor_kid:  # re-pinning needs an explicit --anchor-kid
            check_continuity(fetched, existing.jwks)
        row = federation.trust_region(
            gw, anchor_id=fetched.entity_id, jwks=fetched.jwks, name=name, policy=policy,
            accepted_types=accepted, actor=actor(),
        )  # fmt: skip
    if first_use:
        warn_first_use(fetched)
    if as_json:
        emit_json(_region_out(row, first_use=first_use))
        return
    _say_region(row)


@region_app.command("accept")
def accept(
    anchor: AnchorUrl,
    policy: Policy,
    types: Types,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: JsonOut = False,
) -> None:
    """Anchor: change which types of an already-trusted region are accepted. 修改互认范围"""
    anchor_id = entity_id(anchor, "--anchor")
    with gateway_at(data_dir) as gw:
        accepted = _agreement(gw, policy, types)
        with gw.sessions() as session:
            existing = session.get(SubordinateRow, anchor_id)
        if existing is None or existing.kind != "region" or existing.status != "approved":
            raise NotFound(f"no agreement with {anchor_id}: run `ecert region trust-add` first")
        row = federation.trust_region(
            gw, anchor_id=anchor_id, jwks=existing.jwks, name=existing.name, policy=policy,
            accepted_types=accepted, actor=actor(),
        )  # fmt: skip
    if as_json:
        emit_json(_region_out(row, first_use=False))
        return
    _say_region(row)


# --- trust marks granting verifier roles (OpenID Federation 1.0 §7) ---------------------------

mark_app = typer.Typer(
    help="Trust marks granting counters a verifier role (on a region trust anchor). 信任标志",
    no_args_is_help=True,
)
region_app.add_typer(mark_app, name="trust-mark")


def _mark_json(row: IssuedTrustMarkRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "subject": row.subject,
        "role": row.role,
        "trust_mark_type": row.trust_mark_type,
        "iat": row.iat,
        "exp": row.exp,
        "revoked_at": row.revoked_at,
        "trust_mark": row.token,
    }


@mark_app.command("grant")
def mark_grant(
    subject: Annotated[
        str, typer.Option("--subject", help="the counter's entity id ({city}/verifiers/{id})")
    ],
    role: Annotated[str, typer.Option("--role", help="a role, see `ecert verifier roles`")],
    days: Annotated[int, typer.Option("--days", help="valid for N days 有效天数")] = 365,
    out: Annotated[
        Path | None, typer.Option("--out", help="write the mark to this file 写入文件")
    ] = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: JsonOut = False,
) -> None:
    """Anchor: grant a counter a verifier role by a signed trust mark. 授予核验角色"""
    with gateway_at(data_dir) as gw:
        row = trustmarks.grant(gw, subject=subject, role=role, days=days, actor=actor())
    if out is not None:
        out.write_text(row.token + "\n", encoding="ascii")
    if as_json:
        emit_json(_mark_json(row))
        return
    say(f"已授予 · granted {row.id}: {row.role} → {row.subject}（{days} 天 · days）")
    if out is None:
        say(row.token)
    else:
        say(f"信任标志已写入 · trust mark written to {out}")


@mark_app.command("list")
def mark_list(data_dir: DataDir = DEFAULT_DATA_DIR, as_json: JsonOut = False) -> None:
    """Anchor: the trust marks granted, and which are revoked. 已授予的信任标志"""
    with gateway_at(data_dir) as gw:
        rows = trustmarks.list_granted(gw)
    if as_json:
        emit_json([_mark_json(r) for r in rows])
        return
    if not rows:
        say("尚未授予信任标志 · no trust mark granted yet")
    for r in rows:
        state = "已撤销 revoked" if r.revoked_at is not None else "有效 granted"
        say(f"{r.id}  {r.role}  {r.subject}  {state}")


@mark_app.command("revoke")
def mark_revoke(
    mark_id: Annotated[str, typer.Option("--id", help="the mark's id (tm-…)")],
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: JsonOut = False,
) -> None:
    """Anchor: revoke a trust mark; its status endpoint then answers revoked. 撤销信任标志"""
    with gateway_at(data_dir) as gw:
        row = trustmarks.revoke(gw, mark_id=mark_id, actor=actor())
    if as_json:
        emit_json(_mark_json(row))
        return
    say(f"已撤销 · revoked {row.id}: {row.role} → {row.subject}")
