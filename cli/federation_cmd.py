"""``ecert federation …``: this gateway's place in its region.

What it does: make a gateway its region's trust anchor, have a city join an anchor (pinning the
anchor's keys, :mod:`cli.federation_common`) and the anchor approve it, all through
``gateway.federation``, which records every change to who is trusted in the audit log with the
actor ``cli:<login name>``. It also reads that state back (``list``, ``audit``) and resolves
trust chains from this gateway's own trust anchor (``resolve``). ``sync`` and ``rotate-key`` are
added to this group by :mod:`cli.federation_ops`; agreements between regions are
:mod:`cli.region_cmd`.

What it deliberately does not do: decide trust itself (``trust.federation`` does), or write to
the database other than through ``gateway.federation``.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from sqlalchemy import select

from cli.common import DEFAULT_DATA_DIR, DataDir, JsonOut, emit_json, gateway_at, say
from cli.federation_common import (
    AnchorKids,
    AnchorUrl,
    EntityUrl,
    Types,
    actor,
    check_continuity,
    entity_id,
    fetch_anchor,
    fetcher,
    subordinate_json,
    type_list,
    warn_first_use,
)
from gateway import federation, statements, trustsync
from gateway.clock import iso
from gateway.core import Gateway
from gateway.errors import Conflict
from gateway.models import AgencyRow, AuditRow, FederationKeyRow, FederationRow, SubordinateRow
from trust.errors import DataError
from trust.federation import ENTITY_STATEMENT_MEDIA_TYPE, ChainError, resolve_chain
from trust.keys import PublicKey

federation_app = typer.Typer(
    help="Federation: region trust anchors, cities, trust chains. 联邦信任", no_args_is_help=True
)

MAX_AUDIT_ROWS = 10_000
MAX_REGION_FIELD = 64  # FederationRow.region_id / region_name columns


def _own_kids(gw: Gateway) -> list[str]:
    with gw.transaction() as session:
        _, keys = federation.signing_key(gw, session, federation.SELF)
    return [k.kid for k in keys]


@federation_app.command("init-anchor")
def init_anchor(
    region_id: Annotated[str, typer.Option("--region-id", help="e.g. yrd")],
    region_name: Annotated[str, typer.Option("--region-name", help="e.g. 长三角")],
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: JsonOut = False,
) -> None:
    """Make this gateway its region's trust anchor. 设为区域信任锚"""
    for option, value in (("--region-id", region_id), ("--region-name", region_name)):
        if not value.strip() or len(value) > MAX_REGION_FIELD:
            raise DataError(f"{option} must be 1 to {MAX_REGION_FIELD} characters, found {value!r}")
    with gateway_at(data_dir) as gw:
        row = federation.init(
            gw, role=federation.ANCHOR, region_id=region_id, region_name=region_name,
            actor=actor(),
        )  # fmt: skip
        if (row.region_id, row.region_name) != (region_id, region_name):
            raise Conflict(
                f"this gateway is already the anchor of {row.region_id} ({row.region_name}); "
                f"found a request for {region_id} ({region_name})"
            )
        kids = _own_kids(gw)
    if as_json:
        emit_json(
            {"role": row.role, "entity_id": row.entity_id, "region_id": row.region_id,
             "region_name": row.region_name, "kids": kids}
        )  # fmt: skip
        return
    say(f"{row.entity_id} is the trust anchor of {row.region_name} ({row.region_id}) · 区域信任锚")
    say(f"federation key ids to pin (--anchor-kid): {', '.join(kids)}")
    say(f"cities join with: ecert federation join --anchor {row.entity_id} --anchor-kid {kids[0]}")


@federation_app.command("join")
def join(
    anchor: AnchorUrl,
    anchor_kid: AnchorKids = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: JsonOut = False,
) -> None:
    """Pin a region anchor's keys and ask it to vouch for this city. 申请加入区域"""
    with fetcher() as http, gateway_at(data_dir) as gw:
        fetched = fetch_anchor(http, anchor, kids=anchor_kid or [], now=gw.clock())
        with gw.sessions() as session:
            existing = session.get(FederationRow, 1)
        repeat = existing is not None and existing.superior_id == fetched.entity_id
        if existing is not None and repeat:  # the service keeps the first pins: check them
            check_continuity(fetched, existing.superior_jwks)
        region_id, region_name = fetched.region()
        row = federation.init(
            gw, role=federation.CITY, region_id=region_id, region_name=region_name,
            superior_id=fetched.entity_id, superior_jwks=fetched.jwks, actor=actor(),
        )  # fmt: skip
        if not repeat:
            warn_first_use(fetched)
        join_url = f"{fetched.entity_id}/federation/join"
        text = http.post_text(
            join_url, statements.entity_configuration(gw), content_type=ENTITY_STATEMENT_MEDIA_TYPE
        )
        own = _own_kids(gw)
    try:
        answer = json.loads(text)
        status = str(answer["status"])
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(
            f"expected {{entity_id, status}} from {join_url}, found {text[:80]!r}"
        ) from exc
    pinned = [PublicKey.from_jwk(j).kid for j in row.superior_jwks]
    if as_json:
        emit_json(
            {"entity_id": row.entity_id, "anchor": fetched.entity_id, "region_id": row.region_id,
             "region_name": row.region_name, "pinned_kids": pinned, "kids": own,
             "trust_on_first_use": fetched.on_first_use and not repeat, "status": status}
        )  # fmt: skip
        return
    say(f"{row.entity_id} asked {fetched.entity_id} ({row.region_name}) to join: {status}")
    say(f"pinned anchor key(s): {', '.join(pinned)}")
    if status == "pending":
        say(
            "give the region's operator this city's federation key id out of band; they approve "
            f"with `ecert federation approve --entity {row.entity_id} --kid {own[0]}` · 待区域审核"
        )


@federation_app.command("approve")
def approve(
    entity: EntityUrl,
    types: Types,
    kid: Annotated[
        list[str] | None,
        typer.Option(
            "--kid",
            help="the city's federation key id, obtained out of band (repeatable); without it "
            "the keys of the latest join request are trusted on first use",
        ),
    ] = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: JsonOut = False,
) -> None:
    """Anchor: vouch for a city that asked to join, granting it these types. 批准城市加入"""
    with gateway_at(data_dir) as gw:
        with gw.sessions() as session:
            if federation.config(session).role != federation.ANCHOR:
                raise Conflict("only a region trust anchor approves join requests")
        row = federation.approve(
            gw, entity_id=entity_id(entity, "--entity"), credential_types=type_list(types),
            actor=actor(), kids=kid or None,
        )  # fmt: skip
    out = subordinate_json(row)
    if not kid:  # stderr: a warning, and --json owns stdout
        say(
            f"warning: vouching for {row.entity_id} with the key(s) of its latest join request, "
            f"{', '.join(out['kids'])}, on first use: anyone can post a join request in its name; "
            "compare them with the city's operator out of band (or pass --kid) · "
            "首次信任，请线下核对密钥标识",
            err=True,
        )
    if as_json:
        emit_json(out)
        return
    say(f"approved {row.entity_id} ({row.name}) for {', '.join(row.credential_types)} · 已批准")


@federation_app.command("list")
def list_(data_dir: DataDir = DEFAULT_DATA_DIR, as_json: JsonOut = False) -> None:
    """This gateway's role, superior and the entities it vouches for. 联邦成员"""
    with gateway_at(data_dir) as gw, gw.sessions() as session:
        fed = federation.config(session)
        kids = session.scalars(
            select(FederationKeyRow.kid).where(
                FederationKeyRow.owner == federation.SELF, FederationKeyRow.retired_at.is_(None)
            )
        ).all()
        if fed.role == federation.ANCHOR:
            rows = session.scalars(
                select(SubordinateRow).order_by(SubordinateRow.kind, SubordinateRow.entity_id)
            )
            subs = [subordinate_json(r) for r in rows]
        else:
            agencies = session.scalars(select(AgencyRow).order_by(AgencyRow.created_at))
            subs = [
                {"entity_id": federation.agency_entity_id(fed.entity_id, a.id), "kind": "agency",
                 "name": a.name, "status": "approved", "types": sorted(a.types)}
                for a in agencies
            ]  # fmt: skip
        superior_kids = [str(j.get("kid", "")) for j in fed.superior_jwks]
        out = {
            "role": fed.role,
            "entity_id": fed.entity_id,
            "region_id": fed.region_id,
            "region_name": fed.region_name,
            "kids": list(kids),
            "superior": fed.superior_id,
            "superior_kids": superior_kids,
            "subordinates": subs,
        }
    if as_json:
        emit_json(out)
        return
    say(f"{fed.role} {fed.entity_id} · {fed.region_name} ({fed.region_id})")
    if fed.superior_id:
        say(f"superior {fed.superior_id} (pinned {', '.join(superior_kids)})")
    for s in subs:
        decided = f" by {s['decided_by']} at {s['decided_at']}" if s.get("decided_by") else ""
        policy = f" policy {s['policy']}" if s.get("policy") else ""
        say(
            f"{s['kind']:6}  {s['status']:8}  {s['entity_id']}  {s['name']}  "
            f"[{', '.join(s['types'])}]{policy}{decided}"
        )


@federation_app.command("resolve")
def resolve(
    entity: EntityUrl, data_dir: DataDir = DEFAULT_DATA_DIR, as_json: JsonOut = False
) -> None:
    """Resolve an entity's trust chain up to this gateway's trust anchor. 解析信任链"""
    leaf = entity_id(entity, "--entity")
    with gateway_at(data_dir) as gw:
        anchors, now = trustsync.trust_anchors(gw), gw.clock()
    (anchor_id,) = anchors
    try:
        with fetcher() as http:
            chain = resolve_chain(leaf, fetcher=http, trust_anchors=anchors, now=now)
    except ChainError as exc:
        failures = [
            {"path": list(f.path), "error": type(f.error).__name__, "reason": str(f.error)}
            for f in exc.failures
        ]
        if as_json:
            emit_json(
                {"entity_id": leaf, "trust_anchor": anchor_id, "valid": False,
                 "reason": str(exc), "failures": failures}
            )  # fmt: skip
        else:
            for f in exc.failures:
                say(f"✗ {f.describe()}")
        raise
    acceptance = chain.acceptance
    types, accepted = sorted(chain.credential_types), sorted(chain.accepted_types)
    out = {
        "entity_id": chain.leaf_id,
        "trust_anchor": chain.anchor_id,
        "valid": True,
        "path": list(chain.path),
        "entity_types": sorted(chain.entity_types),
        "credential_types": types,
        "not_granted": {t: list(by) for t, by in sorted(chain.not_granted().items())},
        "accepted_types": accepted,
        "acceptance": None
        if acceptance is None
        else {"policy": acceptance.policy, "types": sorted(acceptance.credential_types)},
        "exp": iso(chain.exp),
    }
    if as_json:
        emit_json(out)
        return
    say(f"✓ {' → '.join(chain.path)}")
    say(f"credential types: {', '.join(types) or '-'}")
    for ctype, by in sorted(chain.not_granted().items()):
        say(f"not granted: {ctype} (subset_of of {', '.join(by)}) · 未获授权")
    if acceptance is not None:
        say(f"accepted by policy {acceptance.policy}: {', '.join(accepted) or '-'}")
    say(f"valid until {iso(chain.exp)}")


@federation_app.command("audit")
def audit(
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=MAX_AUDIT_ROWS, help="the most recent N")
    ] = 1000,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: JsonOut = False,
) -> None:
    """Who changed who is trusted, and when (oldest first). 联邦审计记录"""
    with gateway_at(data_dir) as gw, gw.sessions() as session:
        rows = session.scalars(
            select(AuditRow)
            .where(AuditRow.action.startswith("federation.", autoescape=True))
            .order_by(AuditRow.id.desc())
            .limit(limit)
        ).all()
        out = [
            {"at": iso(r.at), "actor": r.actor, "action": r.action, "subject": r.subject,
             "detail": r.detail}
            for r in reversed(rows)
        ]  # fmt: skip
    if as_json:
        emit_json(out)
        return
    for r in out:
        detail = json.dumps(r["detail"], ensure_ascii=False, sort_keys=True)
        say(f"{r['at']}  {r['actor']}  {r['action']}  {r['subject']}  {detail}")
