"""``ecert verifier add|list|roles``: counters and kiosks that ask wallets for presentations,
each a federation leaf of this city with a role (``issuers/roles/verifier-roles.json``)."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.common import DEFAULT_DATA_DIR, DataDir, JsonOut, emit_json, gateway_at, say
from gateway import verifiers
from gateway.federation import config, verifier_entity_id

ACTOR = "cli"
verifier_app = typer.Typer(help="Counters as verifiers 核验点", no_args_is_help=True)


@verifier_app.command("add")
def verifier_add(
    name: Annotated[str, typer.Option("--name", help="e.g. 西湖区某某宾馆前台")],
    role: Annotated[str, typer.Option("--role", help="a role, see `ecert verifier roles`")],
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: JsonOut = False,
) -> None:
    """Register a counter under this city; prints its key once. 新增核验点"""
    with gateway_at(data_dir) as gw:
        row, api_key = verifiers.add_verifier(gw, name=name, role=role, actor=ACTOR)
        with gw.sessions() as session:
            entity_id = verifier_entity_id(config(session).entity_id, row.id)
    out = {
        "id": row.id,
        "name": row.name,
        "role": row.role,
        "entity_id": entity_id,
        "api_key": api_key,
    }
    if as_json:
        emit_json(out)
        return
    say(f"已登记核验点 · counter registered: {row.id} {row.name} ({row.role}) {entity_id}")
    say(f"核验点密钥（仅显示一次）· counter key (shown once): {api_key}")


@verifier_app.command("list")
def verifier_list(data_dir: DataDir = DEFAULT_DATA_DIR, as_json: JsonOut = False) -> None:
    """List counters. 核验点列表"""
    with gateway_at(data_dir) as gw:
        rows = verifiers.list_verifiers(gw)
    if as_json:
        emit_json(rows)
        return
    for r in rows:
        say(f"{r['id']}  {r['name']}  {r['role']}  {r['entity_id']}")


@verifier_app.command("roles")
def verifier_roles(data_dir: DataDir = DEFAULT_DATA_DIR, as_json: JsonOut = False) -> None:
    """The roles and what each may request. 核验角色"""
    with gateway_at(data_dir) as gw:
        table = verifiers.roles(gw.types)
    out = [
        {"code": r.code, "name": {"zh": r.name_zh, "en": r.name_en}, "may_request": r.to_metadata()}
        for r in table
    ]
    if as_json:
        emit_json(out)
        return
    for r in table:
        asks = "; ".join(f"{t}: {', '.join(f)}" for t, f in r.to_metadata().items())
        say(f"{r.code}  {r.name_zh} · {r.name_en}  {asks}")
