"""``ecert init``, ``ecert agency …``, ``ecert key …``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from sqlalchemy import select

from cli.common import DEFAULT_DATA_DIR, DataDir, JsonOut, emit_json, gateway_at, say
from gateway import agencies, keystore, reissue
from gateway.clock import CHINA_TZ, iso
from gateway.models import AgencyRow
from gateway.settings import load_settings
from trust.errors import DataError

ACTOR = "cli"
agency_app = typer.Typer(help="Issuing agencies 签发机构", no_args_is_help=True)
key_app = typer.Typer(help="Credential-signing keys 签名密钥", no_args_is_help=True)


def init(
    city_code: Annotated[str, typer.Option("--city-code", help="GB/T 2260 code, e.g. 330100")],
    city_name: Annotated[str, typer.Option("--city-name", help="e.g. 杭州市")] = "",
    public_url: Annotated[
        str | None,
        typer.Option(
            "--public-url",
            envvar="ECERT_PUBLIC_URL",
            help="URL printed in QR codes and status list URIs (default http://127.0.0.1:8000); "
            "change it later with `ecert city set-url`",
        ),
    ] = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Create the data directory and database for one city. 初始化城市网关"""
    settings = load_settings(data_dir=data_dir)
    generated = settings.ensure_passphrase()
    with gateway_at(data_dir, create=True) as gw:
        city = agencies.init_city(
            gw,
            code=city_code,
            name=city_name,
            public_url=public_url,
            actor=ACTOR,
        )
    say(
        f"initialised {city.name} ({city.code}) in {data_dir}, public URL {city.public_url} · "
        "已初始化"
    )
    if generated:
        say(
            f"warning: signing keys are encrypted with a generated passphrase in "
            f"{settings.passphrase_file}; in production set ECERT_KEY_PASSPHRASE and keep it "
            "elsewhere · 生产环境请设置 ECERT_KEY_PASSPHRASE"
        )


@agency_app.command("add")
def agency_add(
    name: Annotated[str, typer.Option("--name", help="e.g. 杭州市市场监督管理局")],
    uscc: Annotated[str, typer.Option("--uscc", help="the agency's 统一社会信用代码")],
    types: Annotated[str, typer.Option("--types", help="comma-separated type codes")],
    region: Annotated[str | None, typer.Option("--region", help="6-digit code")] = None,
    alg: Annotated[str, typer.Option("--alg", help="ES256 or EdDSA")] = "ES256",
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: JsonOut = False,
) -> None:
    """Register an agency; prints its API key once. 新增签发机构"""
    with gateway_at(data_dir) as gw:
        agency, api_key = agencies.add_agency(
            gw,
            name=name,
            uscc=uscc,
            types=[t.strip() for t in types.split(",") if t.strip()],
            region_code=region,
            alg=alg,
            actor=ACTOR,
        )
    out = {
        "id": agency.id,
        "name": agency.name,
        "uscc": agency.uscc,
        "region_code": agency.region_code,
        "types": agency.types,
        "api_key": api_key,
    }
    if as_json:
        emit_json(out)
        return
    say(f"agency {agency.id} {agency.name} · types {', '.join(agency.types)}")
    say(f"API key (shown once, 仅显示一次): {api_key}")


@agency_app.command("list")
def agency_list(data_dir: DataDir = DEFAULT_DATA_DIR, as_json: JsonOut = False) -> None:
    """List agencies. 机构列表"""
    with gateway_at(data_dir) as gw, gw.sessions() as session:
        rows = [
            {
                "id": a.id,
                "name": a.name,
                "uscc": a.uscc,
                "region_code": a.region_code,
                "types": a.types,
            }
            for a in session.scalars(select(AgencyRow).order_by(AgencyRow.created_at))
        ]
    if as_json:
        emit_json(rows)
        return
    for r in rows:
        say(f"{r['id']}  {r['uscc']}  {r['name']}  [{', '.join(r['types'])}]")


@key_app.command("list")
def key_list(
    agency: Annotated[str | None, typer.Option("--agency")] = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: JsonOut = False,
) -> None:
    """List signing keys and their state. 密钥列表"""
    with gateway_at(data_dir) as gw, gw.sessions() as session:
        rows = [
            {
                "kid": k.kid,
                "agency_id": k.agency_id,
                "alg": k.alg,
                "created_at": iso(k.created_at),
                "retired_at": iso(k.retired_at),
                "compromised_at": iso(k.compromised_at),
                "state": "compromised"
                if k.compromised_at is not None
                else "retired"
                if k.retired_at is not None
                else "active",
            }
            for k in keystore.list_keys(session, agency)
        ]
    if as_json:
        emit_json(rows)
        return
    for r in rows:
        say(f"{r['kid']}  {r['agency_id']}  {r['alg']}  {r['state']}  created {r['created_at']}")


@key_app.command("rotate")
def key_rotate(
    agency: Annotated[str, typer.Option("--agency")],
    alg: Annotated[str, typer.Option("--alg")] = "ES256",
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: JsonOut = False,
) -> None:
    """New key signs from now on; the old one keeps verifying what it signed. 轮换密钥"""
    with gateway_at(data_dir) as gw:
        row = keystore.rotate(gw, agency_id=agency, alg=alg, actor=ACTOR)
    if as_json:
        emit_json({"kid": row.kid, "agency_id": row.agency_id, "alg": row.alg})
    else:
        say(f"new active key {row.kid} ({row.alg}) for {row.agency_id}")


@key_app.command("retire")
def key_retire(
    kid: Annotated[str, typer.Option("--kid")], data_dir: DataDir = DEFAULT_DATA_DIR
) -> None:
    """Stop signing with a key (what it signed still verifies). 停用密钥"""
    with gateway_at(data_dir) as gw:
        keystore.retire(gw, kid=kid, actor=ACTOR)
    say(f"key {kid} retired")


def _parse_at(at: str | None) -> int | None:
    if at is None:
        return None
    try:
        moment = datetime.fromisoformat(at)
    except ValueError as exc:
        raise DataError(
            f"--at expects an ISO 8601 time like 2026-11-20T09:30:00+08:00, found {at!r}"
        ) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=CHINA_TZ)
    return int(moment.timestamp())


@key_app.command("compromise")
def key_compromise(
    kid: Annotated[str, typer.Option("--kid")],
    reason: Annotated[str, typer.Option("--reason")],
    at: Annotated[
        str | None, typer.Option("--at", help="when it was compromised (default now)")
    ] = None,
    reissue_live: Annotated[
        bool | None,
        typer.Option("--reissue/--no-reissue", help="re-issue the affected live certificates"),
    ] = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: JsonOut = False,
) -> None:
    """Mark a key compromised; offer to re-issue what it signed. 标记密钥泄露"""
    with gateway_at(data_dir) as gw:
        row, affected = keystore.compromise(
            gw, kid=kid, at=_parse_at(at), reason=reason, actor=ACTOR
        )
        say(
            f"key {kid} marked compromised at {iso(row.compromised_at)}; "
            f"{len(affected)} live certificate(s) were signed with it · "
            f"受影响证照 {len(affected)} 张",
            err=as_json,
        )
        do_it = reissue_live
        if do_it is None and affected and not as_json:
            do_it = typer.confirm(
                "Re-issue them under a fresh key? 是否用新密钥重新签发？", default=False
            )
        fresh = []
        if do_it and affected:
            fresh = reissue.reissue(
                gw,
                credential_ids=[c.id for c in affected],
                actor=ACTOR,
                reason=f"re-issued after key {kid} was compromised: {reason}",
            )
            say(f"re-issued {len(fresh)} certificate(s) · 已重新签发", err=as_json)
    if as_json:
        emit_json(
            {
                "kid": kid,
                "compromised_at": iso(row.compromised_at),
                "affected": [c.id for c in affected],
                "reissued": [
                    {"id": c.id, "supersedes": c.supersedes, "identifier": c.identifier}
                    for c in fresh
                ],
            }
        )
