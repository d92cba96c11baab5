"""``ecert verifier add|list|roles``: counters and kiosks that ask wallets for presentations,
each a federation leaf of this city with a role (``issuers/roles/verifier-roles.json``);
``ecert verifier trust-mark add``: a role granted by the region's anchor, by a trust mark."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.common import DEFAULT_DATA_DIR, DataDir, JsonOut, emit_json, gateway_at, say
from cli.federation_common import fetcher
from gateway import trustmarks, verifiers
from gateway.federation import config, verifier_entity_id
from trust.errors import DataError

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


mark_app = typer.Typer(help="A counter's trust marks 核验点信任标志", no_args_is_help=True)
verifier_app.add_typer(mark_app, name="trust-mark")
MAX_MARK_FILE = 16 * 1024


@mark_app.command("add")
def mark_add(
    verifier: Annotated[str, typer.Option("--verifier", help="the counter's id (vf-…)")],
    file: Annotated[Path, typer.Option("--file", help="the trust mark the anchor granted")],
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: JsonOut = False,
) -> None:
    """Attach a trust mark to a counter, checked with the region's anchor first. 添加信任标志"""
    try:
        with file.open("rb") as handle:
            raw = handle.read(MAX_MARK_FILE + 1)
    except OSError as exc:
        raise DataError(f"无法读取信任标志文件 · cannot read {file}: {exc.strerror}") from exc
    if len(raw) > MAX_MARK_FILE:
        raise DataError(f"信任标志文件过大 · expected at most {MAX_MARK_FILE} bytes in {file}")
    with fetcher() as http, gateway_at(data_dir) as gw:
        check = trustmarks.attach(
            gw, http, verifier_id=verifier, token=raw.decode("ascii", "replace").strip(),
            actor=ACTOR,
        )  # fmt: skip
    out = {"verifier": verifier, "trust_mark_type": check.trust_mark_type, "role": check.role}
    if as_json:
        emit_json(out)
        return
    say(f"已添加信任标志 · trust mark attached: {verifier} 另获角色 · may also act as {check.role}")
