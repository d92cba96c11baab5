"""``ecert federation …`` and ``ecert region …``: this gateway's place in the federation.

What it does: fetch another party's Entity Configuration over HTTP (``gateway.peers``), check
it with ``trust.federation`` (self-signed, an anchor, the keys the operator pinned), and hand
the result to ``gateway.federation``, which records every change to who is trusted in the
audit log with the actor ``cli:<login name>``. It also reads that state back (``list``,
``audit``) and resolves trust chains from this gateway's own trust anchor (``resolve``).

What it deliberately does not do: decide trust itself (``trust.federation`` does), write to
the database other than through ``gateway.federation``, or ever pin a key that the fetched
configuration does not both list and sign with.
"""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import select

from cli.common import DEFAULT_DATA_DIR, DataDir, JsonOut, emit_json, gateway_at, say
from gateway import federation, trustsync
from gateway.clock import iso
from gateway.core import Gateway
from gateway.errors import Conflict, NotFound
from gateway.models import (
    AgencyRow,
    AuditRow,
    FederationKeyRow,
    FederationRow,
    SubordinateRow,
)
from gateway.peers import HttpFetcher
from trust.errors import DataError
from trust.federation import (
    ENTITY_STATEMENT_MEDIA_TYPE,
    MAX_STATEMENT_LENGTH,
    Acceptance,
    ChainError,
    EntityStatement,
    FederationError,
    check_entity_id,
    entity_configuration_url,
    resolve_chain,
    verify_entity_configuration,
)
from trust.keys import PublicKey

federation_app = typer.Typer(
    help="Federation: region trust anchors, cities, trust chains. 联邦信任", no_args_is_help=True
)
region_app = typer.Typer(
    help="Cross-region agreements (on a region trust anchor). 跨区域互认", no_args_is_help=True
)

GATEWAY_METADATA = "ecert_gateway"  # the entity type gateway.federation publishes roles under
MAX_AUDIT_ROWS = 10_000
MAX_REGION_FIELD = 64  # FederationRow.region_id / region_name columns

AnchorUrl = Annotated[
    str, typer.Option("--anchor", help="the region trust anchor's entity id (its URL)")
]
AnchorKids = Annotated[
    list[str] | None,
    typer.Option(
        "--anchor-kid",
        help="federation key id to pin, obtained out of band (repeatable); "
        "without it every key found is pinned on first use",
    ),
]
EntityUrl = Annotated[str, typer.Option("--entity", help="the entity id (URL)")]
Types = Annotated[str, typer.Option("--types", help="comma-separated credential type codes")]
Policy = Annotated[
    str, typer.Option("--policy", help="name of the agreement (ASCII, no spaces), e.g. yrd-jjj")
]


def _actor() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no login name for this uid (e.g. in a bare container)
        user = f"uid{os.getuid()}"
    return f"cli:{user}"


def _type_list(value: str) -> list[str]:
    return sorted({t.strip() for t in value.split(",") if t.strip()})


def _known_types(gw: Gateway, types: Sequence[str]) -> list[str]:
    known = sorted(t.code for t in gw.types)
    unknown = [t for t in types if t not in known]
    if unknown:
        raise DataError(
            f"--types expects codes among {', '.join(known)}; found unknown {', '.join(unknown)}"
        )
    return list(types)


def _entity_id(value: str, option: str) -> str:
    return check_entity_id(value.rstrip("/"), option, FederationError)


@contextmanager
def _gateway(data_dir: Path) -> Iterator[Gateway]:
    with gateway_at(data_dir) as gw:
        yield gw


@contextmanager
def _fetcher() -> Iterator[HttpFetcher]:
    fetcher = HttpFetcher()
    try:
        yield fetcher
    finally:
        fetcher.close()


# --- fetching and pinning another party's anchor ---------------------------------------------


@dataclass(frozen=True)
class FetchedAnchor:
    """A region trust anchor's verified configuration and the keys chosen to pin from it."""

    statement: EntityStatement
    pinned: tuple[PublicKey, ...]
    on_first_use: bool  # no --anchor-kid: pinned whatever the anchor served (TOFU)

    @property
    def entity_id(self) -> str:
        return self.statement.sub

    @property
    def kids(self) -> list[str]:
        return [k.kid for k in self.pinned]

    @property
    def jwks(self) -> list[dict[str, Any]]:
        return [dict(k.jwk) for k in self.pinned]

    def region(self) -> tuple[str, str]:
        meta = self.statement.metadata.get(GATEWAY_METADATA, {})
        region_id, region_name = meta.get("region_id"), meta.get("region_name")
        if not (isinstance(region_id, str) and region_id and isinstance(region_name, str)):
            raise DataError(
                f"expected {GATEWAY_METADATA}.region_id and region_name in the configuration "
                f"of {self.entity_id}, found {region_id!r} and {region_name!r}"
            )
        return region_id, region_name


def _fetch_anchor(
    fetcher: HttpFetcher, anchor: str, *, kids: Sequence[str], now: int
) -> FetchedAnchor:
    """GET ``{anchor}/.well-known/openid-federation``, verify it, choose the keys to pin."""
    anchor_id = _entity_id(anchor, "--anchor")
    url = entity_configuration_url(anchor_id)
    body = fetcher.fetch(url)
    try:
        token = body[: MAX_STATEMENT_LENGTH + 1].decode("ascii").strip()
    except UnicodeDecodeError as exc:
        raise DataError(f"expected a compact JWS from {url}, found non-ASCII bytes") from exc
    statement = verify_entity_configuration(token, now=now, expected_sub=anchor_id)
    role = statement.metadata.get(GATEWAY_METADATA, {}).get("role")
    if role != federation.ANCHOR:
        raise DataError(
            f"expected {anchor_id} to be a region trust anchor, found role {role!r} in its "
            f"{GATEWAY_METADATA} metadata"
        )
    found = [k.kid for k in statement.jwks]
    if not kids:
        return FetchedAnchor(statement, statement.jwks, on_first_use=True)
    missing = [k for k in dict.fromkeys(kids) if k not in found]
    if missing:
        raise DataError(
            f"--anchor-kid {', '.join(missing)} is not among the federation keys of {anchor_id}; "
            f"found {', '.join(found)}"
        )
    if statement.signed_with.kid not in kids:
        raise DataError(
            f"{anchor_id} signed its configuration with key {statement.signed_with.kid}, "
            f"which is not among the pinned --anchor-kid {', '.join(kids)}"
        )
    return FetchedAnchor(
        statement, tuple(k for k in statement.jwks if k.kid in kids), on_first_use=False
    )


def _check_continuity(fetched: FetchedAnchor, pinned_jwks: Sequence[dict[str, Any]]) -> None:
    """The anchor still signs with a key pinned before: no silent re-pinning on a repeat."""
    pinned = [PublicKey.from_jwk(j).kid for j in pinned_jwks]  # kid = RFC 7638 thumbprint
    if fetched.statement.signed_with.kid not in pinned:
        raise DataError(
            f"{fetched.entity_id} signed its configuration with key "
            f"{fetched.statement.signed_with.kid}, not with a key pinned earlier "
            f"({', '.join(pinned)}); it serves {', '.join(k.kid for k in fetched.statement.jwks)}"
        )


def _warn_first_use(fetched: FetchedAnchor) -> None:
    if fetched.on_first_use:  # stderr: a warning, and --json owns stdout
        say(
            f"warning: trusting {fetched.entity_id} on first use: pinned federation key(s) "
            f"{', '.join(fetched.kids)}; compare them with the anchor's operator out of band "
            "(or pass --anchor-kid) · 首次信任，请线下核对密钥标识",
            err=True,
        )


# --- ecert federation … ---------------------------------------------------------------------


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
            actor=_actor(),
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
    with _fetcher() as fetcher, gateway_at(data_dir) as gw:
        fetched = _fetch_anchor(fetcher, anchor, kids=anchor_kid or [], now=gw.clock())
        with gw.sessions() as session:
            existing = session.get(FederationRow, 1)
        repeat = existing is not None and existing.superior_id == fetched.entity_id
        if existing is not None and repeat:  # the service keeps the first pins: check them
            _check_continuity(fetched, existing.superior_jwks)
        region_id, region_name = fetched.region()
        row = federation.init(
            gw, role=federation.CITY, region_id=region_id, region_name=region_name,
            superior_id=fetched.entity_id, superior_jwks=fetched.jwks, actor=_actor(),
        )  # fmt: skip
        if not repeat:
            _warn_first_use(fetched)
        join_url = f"{fetched.entity_id}/federation/join"
        text = fetcher.post_text(
            join_url, federation.entity_configuration(gw), content_type=ENTITY_STATEMENT_MEDIA_TYPE
        )
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
             "region_name": row.region_name, "pinned_kids": pinned,
             "trust_on_first_use": fetched.on_first_use and not repeat, "status": status}
        )  # fmt: skip
        return
    say(f"{row.entity_id} asked {fetched.entity_id} ({row.region_name}) to join: {status}")
    say(f"pinned anchor key(s): {', '.join(pinned)}")
    if status == "pending":
        say("the region's operator approves with `ecert federation approve` · 待区域审核")


@federation_app.command("approve")
def approve(
    entity: EntityUrl, types: Types, data_dir: DataDir = DEFAULT_DATA_DIR, as_json: JsonOut = False
) -> None:
    """Anchor: vouch for a city that asked to join, granting it these types. 批准城市加入"""
    with gateway_at(data_dir) as gw:
        with gw.sessions() as session:
            if federation.config(session).role != federation.ANCHOR:
                raise Conflict("only a region trust anchor approves join requests")
        row = federation.approve(
            gw, entity_id=_entity_id(entity, "--entity"), credential_types=_type_list(types),
            actor=_actor(),
        )  # fmt: skip
    out = _subordinate(row)
    if as_json:
        emit_json(out)
        return
    say(f"approved {row.entity_id} ({row.name}) for {', '.join(row.credential_types)} · 已批准")


def _subordinate(row: SubordinateRow) -> dict[str, Any]:
    return {
        "entity_id": row.entity_id,
        "kind": row.kind,
        "name": row.name,
        "status": row.status,
        "types": list(row.credential_types),
        "policy": row.policy or None,
        "kids": [str(j.get("kid", "")) for j in row.jwks],
        "requested_at": iso(row.requested_at),
        "decided_by": row.decided_by,
        "decided_at": iso(row.decided_at),
    }


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
            subs = [_subordinate(r) for r in rows]
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
    leaf = _entity_id(entity, "--entity")
    with gateway_at(data_dir) as gw:
        anchors, now = trustsync.trust_anchors(gw), gw.clock()
    (anchor_id,) = anchors
    try:
        with _fetcher() as fetcher:
            chain = resolve_chain(leaf, fetcher=fetcher, trust_anchors=anchors, now=now)
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


# --- ecert region … -------------------------------------------------------------------------


def _agreement(gw: Gateway, policy: str, types: str) -> list[str]:
    accepted = _known_types(gw, _type_list(types))
    try:
        Acceptance(policy=policy, credential_types=frozenset(accepted))
    except FederationError as exc:
        raise DataError(f"--policy/--types: {exc}") from exc
    return accepted


def _region_out(row: SubordinateRow, *, first_use: bool) -> dict[str, Any]:
    return {**_subordinate(row), "trust_on_first_use": first_use}


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
    with _fetcher() as fetcher, gateway_at(data_dir) as gw:
        accepted = _agreement(gw, policy, types)
        fetched = _fetch_anchor(fetcher, anchor, kids=anchor_kid or [], now=gw.clock())
        with gw.sessions() as session:
            fed = federation.config(session)
            existing = session.get(SubordinateRow, fetched.entity_id)
        if fetched.entity_id == fed.entity_id:
            raise Conflict(f"{fed.entity_id} is this gateway: a region does not trust itself")
        if existing is not None and existing.kind != "region":
            raise Conflict(f"{fetched.entity_id} is a {existing.kind} of this region, not a region")
        first_use = fetched.on_first_use and existing is None
        if existing is not None and not anchor_kid:  # re-pinning needs an explicit --anchor-kid
            _check_continuity(fetched, existing.jwks)
        row = federation.trust_region(
            gw, anchor_id=fetched.entity_id, jwks=fetched.jwks, name=name, policy=policy,
            accepted_types=accepted, actor=_actor(),
        )  # fmt: skip
    if first_use:
        _warn_first_use(fetched)
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
    anchor_id = _entity_id(anchor, "--anchor")
    with gateway_at(data_dir) as gw:
        accepted = _agreement(gw, policy, types)
        with gw.sessions() as session:
            existing = session.get(SubordinateRow, anchor_id)
        if existing is None or existing.kind != "region" or existing.status != "approved":
            raise NotFound(f"no agreement with {anchor_id}: run `ecert region trust-add` first")
        row = federation.trust_region(
            gw, anchor_id=anchor_id, jwks=existing.jwks, name=existing.name, policy=policy,
            accepted_types=accepted, actor=_actor(),
        )  # fmt: skip
    if as_json:
        emit_json(_region_out(row, first_use=False))
        return
    _say_region(row)
