"""``ecert demo-federation``: two regions, six gateways, each its own ``ecert serve`` process.

长三角 (anchor, region ``yrd``) vouches for 杭州 and 苏州; 京津冀 (anchor, ``jjj``) for 北京 and
天津. The two anchors cross-certify each other for business licences and permits (not e-IDs).
Everything who-trusts-whom is set up here, in this process, through the gateway's own service
functions on each gateway's data directory; only then does each gateway start as a separate
``ecert serve`` on loopback, with its own database (苏州 on PostgreSQL when one is reachable).
From there on the gateways learn about each other only over HTTP, by their federation sync.

:func:`start_federation` is what the multi-process test uses (free ports, seconds-long
intervals); :func:`demo_federation` is the CLI command (fixed ports, runs until interrupted).
Throw-away demo data only: the passphrase is fixed and the API keys are written in clear to
``.ecert/federation-demo.json`` so scripts can drive the demo.

Deliberately not here: running the processes. Spawning, health checks, stopping, the 苏州
PostgreSQL database and signal handling are :mod:`cli.federation_demo_procs`; this module says
what the demo is and sets it up.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from stdnum.cn import uscc

from cli.common import say
from cli.federation_demo_procs import (
    DemoError,
    DemoFederation,
    DemoGateway,
    Spec,
    StopRequested,
    child_env,
    ignore_signals,
    postgres_for_suzhou,
    signals_stop,
    spawn,
    wait_ready,
    watch,
)
from gateway import agencies, federation, join_requests, statements
from gateway.core import Gateway
from gateway.demo import SAMPLES
from gateway.settings import load_settings

# Demo only: every child gets it through ECERT_KEY_PASSPHRASE; the data is wiped on each start.
DEMO_PASSPHRASE = "ecert-federation-demo-yrd-jjj-2026"  # noqa: S105 - throw-away demo data
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
INFO_FILE = Path(".ecert/federation-demo.json")
MARKER = "FEDERATION-DEMO"
READY_TIMEOUT = 60.0  # seconds for all six gateways to answer /healthz
ACTOR = "demo-federation"
LICENCES = ("business-licence", "food-business-permit", "industrial-production-permit")
EID = "resident-eid"


def _amr(city: str, first17: str) -> tuple[str, str, tuple[str, ...]]:
    return (f"{city}市场监督管理局", first17, LICENCES)


SPECS: tuple[Spec, ...] = (
    Spec("yrd", federation.ANCHOR, "yrd", "长三角", "310000", "上海市"),
    Spec("hangzhou", federation.CITY, "yrd", "长三角", "330100", "杭州市", "yrd",
         (*LICENCES, EID),
         (_amr("杭州市", "11330100MB1958123"), ("杭州市公安局", "11330100002490365", (EID,)))),
    Spec("suzhou", federation.CITY, "yrd", "长三角", "320500", "苏州市", "yrd", LICENCES,
         (_amr("苏州市", "11320500MB1732480"),)),
    Spec("jjj", federation.ANCHOR, "jjj", "京津冀", "110000", "北京市"),
    Spec("beijing", federation.CITY, "jjj", "京津冀", "110100", "北京市", "jjj", LICENCES,
         (_amr("北京市", "11110100MB0143170"),)),
    Spec("tianjin", federation.CITY, "jjj", "京津冀", "120100", "天津市", "jjj", LICENCES,
         (_amr("天津市", "11120100MB1845670"),)),
)  # fmt: skip
DEMO_PORT = 9100  # 长三角; then 杭州, 苏州, 京津冀, 北京, 天津 on the next five ports
POSTGRES_CITY = "suzhou"


def _uscc(first17: str) -> str:
    return first17 + uscc.calc_check_digit(first17)


def _fresh_dir(base: Path) -> None:
    """Start from nothing: wipe an earlier demo's data, refuse to touch anything else."""
    if base.exists() and any(base.iterdir()):
        if not (base / MARKER).exists():
            raise DemoError(f"{base} holds data that is not from demo-federation; pick another")
        shutil.rmtree(base)
    base.mkdir(parents=True, exist_ok=True)
    (base / MARKER).write_text("throw-away demo-federation data\n", encoding="utf-8")


def _open(g: DemoGateway) -> Gateway:
    settings = load_settings(
        data_dir=g.data_dir, database_url=g.database_url, key_passphrase=DEMO_PASSPHRASE
    )
    return Gateway.open(settings)


def _own_keys(gw: Gateway) -> list[dict[str, Any]]:
    with gw.transaction() as session:
        _, keys = federation.signing_key(gw, session, federation.SELF)
    return [dict(k.jwk) for k in keys]


def _set_up(gateways: Mapping[str, DemoGateway]) -> None:
    """Cities, federation roles, joins and approvals, cross-region agreements, agencies."""
    opened: dict[str, Gateway] = {}
    try:
        for key, g in gateways.items():
            gw = opened[key] = _open(g)
            agencies.init_city(gw, code=g.spec.code, name=g.spec.name, public_url=g.url,
                               actor=ACTOR)  # fmt: skip
        for key, g in gateways.items():
            spec, gw = g.spec, opened[key]
            if spec.role == federation.ANCHOR:
                federation.init(gw, role=federation.ANCHOR, region_id=spec.region,
                                region_name=spec.region_name, actor=ACTOR)  # fmt: skip
        for key, g in gateways.items():
            spec, gw = g.spec, opened[key]
            if spec.anchor is None:
                continue
            anchor, anchor_url = opened[spec.anchor], gateways[spec.anchor].url
            federation.init(
                gw, role=federation.CITY, region_id=spec.region, region_name=spec.region_name,
                superior_id=anchor_url, superior_jwks=_own_keys(anchor), actor=ACTOR,
            )  # fmt: skip
            join_requests.request_join(anchor, statements.entity_configuration(gw))
            federation.approve(anchor, entity_id=g.url, credential_types=spec.granted,
                               actor=ACTOR)  # fmt: skip
        for here, there in (("yrd", "jjj"), ("jjj", "yrd")):
            federation.trust_region(
                opened[here], anchor_id=gateways[there].url, jwks=_own_keys(opened[there]),
                name=gateways[there].spec.region_name, policy=f"{here}-accepts-{there}-licences",
                accepted_types=LICENCES, actor=ACTOR,
            )  # fmt: skip
        for key, g in gateways.items():
            for name, first17, types in g.spec.agencies:
                row, api_key = agencies.add_agency(
                    opened[key], name=name, uscc=_uscc(first17), types=list(types), actor=ACTOR
                )
                g.agencies.append({"id": row.id, "name": row.name, "uscc": row.uscc,
                                   "api_key": api_key, "types": list(row.types)})  # fmt: skip
    finally:
        for gw in opened.values():
            gw.close()


def start_federation(
    base: Path,
    *,
    ports: Mapping[str, int],
    refresh: float,
    status_ttl: int,
    postgres: str | None,
    postgres_required: bool = False,
    ready_timeout: float = READY_TIMEOUT,
    reference_ttl: int | None = None,
) -> DemoFederation:
    """Set up the six gateways under ``base`` (wiped first), start them, wait until they answer.

    ``reference_ttl``: the lifetime of reference codes (``ECERT_REFERENCE_TTL``), when not 300 s.
    ``postgres`` is a server URL on which 苏州's database is created (and dropped by
    :meth:`DemoFederation.stop`); unreachable, 苏州 falls back to SQLite unless
    ``postgres_required``. On any failure everything started so far is stopped.
    """
    missing = sorted({s.key for s in SPECS} - set(ports))
    if missing:
        raise DemoError(f"expected a port for every gateway, missing {missing}")
    base = base.resolve()
    _fresh_dir(base)
    cleanups: list[Callable[[], None]] = []
    fed = DemoFederation(gateways={}, refresh=refresh, status_ttl=status_ttl, cleanups=cleanups)
    try:
        pg_url = postgres_for_suzhou(postgres, required=postgres_required, stack=cleanups)
        for spec in SPECS:
            data_dir = base / spec.key
            data_dir.mkdir()
            database_url = (
                pg_url
                if spec.key == POSTGRES_CITY and pg_url is not None
                else f"sqlite:///{data_dir / 'gateway.db'}"
            )
            env = {
                "ECERT_KEY_PASSPHRASE": DEMO_PASSPHRASE,
                "ECERT_FEDERATION_REFRESH": str(refresh),
                "ECERT_STATUS_TTL": str(status_ttl),
            }
            if reference_ttl is not None:
                env["ECERT_REFERENCE_TTL"] = str(reference_ttl)
            if database_url.startswith("postgresql"):
                env["ECERT_DATABASE_URL"] = database_url
            fed.gateways[spec.key] = DemoGateway(
                spec=spec, url=f"http://127.0.0.1:{ports[spec.key]}", port=ports[spec.key],
                data_dir=data_dir, database_url=database_url, env=child_env(env),
            )  # fmt: skip
        _set_up(fed.gateways)
        for g in fed.gateways.values():
            spawn(g)
        wait_ready(fed.gateways, ready_timeout)
    except BaseException:
        fed.stop()
        raise
    return fed


def write_info(fed: DemoFederation, path: Path = INFO_FILE) -> None:
    """The demo's gateways and agencies (with API keys: demo only), readable by the user only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(fed.to_json(), handle, ensure_ascii=False, indent=2)
        handle.write("\n")
    os.replace(partial, path)


def banner(fed: DemoFederation, info: Path) -> str:
    lines = ["", "ecert-gateway federation demo · 跨区域电子证照互认演示", ""]
    for g in fed.gateways.values():
        s = g.spec
        role = "region anchor 区域信任锚" if s.role == federation.ANCHOR else "city 城市网关"
        storage = "PostgreSQL" if g.database_url.startswith("postgresql") else "SQLite"
        region = f"{s.region_name} " if s.anchor else ""
        lines.append(f"  {region}{g.label} {role}  {g.url}  ({storage})")
        lines.append(f"      {g.url}/v  {g.url}/healthz  {g.url}/trust/list")
        for a in g.agencies:
            lines.append(f"      {a['name']} {a['id']} [{', '.join(a['types'])}]")
    hz, sz, bj = fed["hangzhou"], fed["suzhou"], fed["beijing"]
    subject = json.dumps(SAMPLES[0]["subject"], ensure_ascii=False)
    py = ".venv/bin/python -c"
    lines += [
        "",
        f"Agencies, API keys and URLs for scripts: {info} (demo only: keys in clear)",
        f"Trust syncs every {fed.refresh:g}s, status lists cached {fed.status_ttl}s: a new key "
        "or a revocation is known in other cities within that time · 同步周期内全网生效",
        "",
        "Issue a business licence in 杭州, verify it at a 苏州 and a 北京 counter:",
        f"  KEY=$({py} \"import json; d=json.load(open('{info}')); "
        "print(d['gateways']['hangzhou']['agencies'][0]['api_key'])\")",
        f'  curl -s -X POST {hz.url}/api/v1/credentials -H "Authorization: Bearer $KEY" '
        "-H 'Content-Type: application/json' \\",
        f'    -d \'{{"type": "business-licence", "subject": {subject}}}\' \\',
        "    > /tmp/hz-licence.json",
        f"  QR=$({py} \"import json; print(json.load(open('/tmp/hz-licence.json'))['qr_text'])\")",
        f"  curl -s -X POST {sz.url}/api/v1/verify -H 'Content-Type: application/json' "
        '-d "{\\"qr\\": \\"$QR\\"}"',
        f"  curl -s -X POST {bj.url}/api/v1/verify -H 'Content-Type: application/json' "
        '-d "{\\"qr\\": \\"$QR\\"}"',
        f'  .venv/bin/ecert verify --gateway {bj.url} --qr-text "$QR"',
        "",
        *kiosk_lines(hz),
        "",
        f"Logs: {fed['yrd'].data_dir.parent}/<gateway>/serve.log · Ctrl-C stops all six "
        "gateways · 按 Ctrl-C 停止",
        "",
    ]
    return "\n".join(lines)


def kiosk_lines(g: DemoGateway) -> list[str]:
    """How to give an offline kiosk a city's trust bundle: the ``ecert`` commands on a demo
    data directory need the demo's key passphrase, so it is printed (issue 12: it was printed
    nowhere), with its database when it is not the directory's own SQLite file."""
    env = f"ECERT_KEY_PASSPHRASE={DEMO_PASSPHRASE}"
    if not g.database_url.startswith("sqlite"):
        env += f" ECERT_DATABASE_URL={g.database_url}"
    return [
        f"{g.label}的离线核验机 · offline kiosk for {g.label} (演示口令，仅用于演示 · "
        "demo-only passphrase):",
        f"  {env} \\",
        f"    .venv/bin/ecert trust export --data-dir {g.data_dir} --out /tmp/kiosk.json",
        '  .venv/bin/ecert verify --offline --trust-file /tmp/kiosk.json --qr-text "$QR"',
    ]


def demo_federation(
    data_dir: Annotated[
        Path, typer.Option("--data-dir", help="parent of the six gateways' data directories")
    ] = Path(".ecert/federation"),
    refresh: Annotated[
        float, typer.Option("--refresh", min=1, help="seconds between trust syncs")
    ] = 10.0,
    status_ttl: Annotated[
        int, typer.Option("--status-ttl", min=1, help="status list ttl, seconds")
    ] = 30,
    postgres: Annotated[
        str, typer.Option("--postgres", help="PostgreSQL server for 苏州's database")
    ] = DEFAULT_POSTGRES,
    port: Annotated[
        int, typer.Option("--port", min=1, max=65530, help="the first of six consecutive ports")
    ] = DEMO_PORT,
) -> None:
    """Two regions, six gateways (ports 9100-9105 by default), until interrupted. 跨区域联邦演示"""
    ports = {spec.key: port + i for i, spec in enumerate(SPECS)}
    with signals_stop():
        try:
            fed = start_federation(
                data_dir, ports=ports, refresh=refresh, status_ttl=status_ttl, postgres=postgres
            )
        except StopRequested:
            say("stopped while starting · 启动中止")
            raise typer.Exit(1) from None
        try:
            write_info(fed)
            say(banner(fed, INFO_FILE))
            watch(fed)
            say("every gateway has stopped · 所有网关均已停止")
            code = 1
        except StopRequested:
            say("stopping the six gateways · 正在停止")
            code = 0
        finally:
            ignore_signals()
            fed.stop()
    raise typer.Exit(code)
