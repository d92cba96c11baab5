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
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, Annotated, Any

import httpx
import typer
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from stdnum.cn import uscc

from cli.common import say
from gateway import agencies, federation
from gateway.core import Gateway
from gateway.demo import SAMPLES
from gateway.settings import load_settings
from trust.errors import EcertError

# Demo only: every child gets it through ECERT_KEY_PASSPHRASE; the data is wiped on each start.
DEMO_PASSPHRASE = "ecert-federation-demo-yrd-jjj-2026"  # noqa: S105 - throw-away demo data
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
INFO_FILE = Path(".ecert/federation-demo.json")
MARKER = "FEDERATION-DEMO"
READY_TIMEOUT = 60.0  # seconds for all six gateways to answer /healthz
STOP_GRACE = 5.0  # seconds between SIGTERM and SIGKILL
ACTOR = "demo-federation"
LICENCES = ("business-licence", "food-business-permit", "industrial-production-permit")
EID = "resident-eid"


@dataclass(frozen=True)
class Spec:
    """One gateway of the demo: who it is and, for a city, its anchor and granted types."""

    key: str
    role: str
    region: str
    region_name: str
    code: str
    name: str
    anchor: str | None = None
    granted: tuple[str, ...] = ()
    agencies: tuple[tuple[str, str, tuple[str, ...]], ...] = ()  # name, USCC[:17], types


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
DEMO_PORTS = {"yrd": 9100, "hangzhou": 9101, "suzhou": 9102, "jjj": 9103, "beijing": 9104,
              "tianjin": 9105}  # fmt: skip
POSTGRES_CITY = "suzhou"


class DemoError(EcertError):
    """The demo federation could not be set up or started."""


@dataclass
class DemoGateway:
    """One gateway of the running demo: its identity, storage, agencies and process."""

    spec: Spec
    url: str
    port: int
    data_dir: Path
    database_url: str
    env: dict[str, str]  # what its `ecert serve` runs with (use it for other `ecert` commands)
    agencies: list[dict[str, Any]] = field(default_factory=list)  # id, name, uscc, api_key, types
    proc: subprocess.Popen[bytes] | None = None
    log: Path | None = None
    _log_handle: IO[bytes] | None = None

    @property
    def key(self) -> str:
        return self.spec.key

    @property
    def label(self) -> str:
        """长三角 / 京津冀 for an anchor, the city's name for a city."""
        return self.spec.name if self.spec.anchor else self.spec.region_name

    def agency_for(self, ctype: str) -> dict[str, Any]:
        for agency in self.agencies:
            if ctype in agency["types"]:
                return agency
        raise DemoError(f"{self.spec.name} has no demo agency authorised for {ctype}")

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.spec.name, "role": self.spec.role, "region": self.spec.region,
            "region_name": self.spec.region_name, "city_code": self.spec.code, "url": self.url,
            "anchor": self.spec.anchor, "data_dir": str(self.data_dir),
            "database": "postgresql" if self.database_url.startswith("postgresql") else "sqlite",
            "agencies": [dict(a) for a in self.agencies],
        }  # fmt: skip


@dataclass
class DemoFederation:
    """The six running gateways; :meth:`stop` ends every process and drops the demo database."""

    gateways: dict[str, DemoGateway]
    refresh: float
    status_ttl: int
    cleanups: list[Callable[[], None]] = field(default_factory=list)

    def __getitem__(self, key: str) -> DemoGateway:
        return self.gateways[key]

    def to_json(self) -> dict[str, Any]:
        return {
            "refresh_seconds": self.refresh,
            "status_ttl_seconds": self.status_ttl,
            "gateways": {k: g.to_json() for k, g in self.gateways.items()},
        }

    def kill(self, key: str) -> None:
        """SIGKILL one gateway's process (a crash, not a shutdown)."""
        proc = self.gateways[key].proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=STOP_GRACE)

    def dead(self) -> list[str]:
        procs = {k: g.proc for k, g in self.gateways.items() if g.proc is not None}
        return [k for k, p in procs.items() if p.poll() is not None]

    def stop(self) -> None:
        """SIGTERM every child, SIGKILL whatever is still running after a grace period."""
        running = [g for g in self.gateways.values() if g.proc is not None]
        for g in running:
            if g.proc is not None and g.proc.poll() is None:
                g.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        for g in running:
            assert g.proc is not None
            try:
                g.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                g.proc.kill()
                g.proc.wait(timeout=STOP_GRACE)
            g.proc = None
        for g in self.gateways.values():
            if g._log_handle is not None:
                g._log_handle.close()
                g._log_handle = None
        while self.cleanups:
            self.cleanups.pop()()


def _uscc(first17: str) -> str:
    return first17 + uscc.calc_check_digit(first17)


def child_env(extra: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without any ``ECERT_*`` variable, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECERT_")}
    env.update(extra)
    return env


def _create_database(server_url: str) -> tuple[str, Callable[[], None]]:
    """A fresh ``ecert_demo_suzhou_<random>`` database on ``server_url`` and its dropper."""
    url = make_url(server_url)
    name = f"ecert_demo_suzhou_{secrets.token_hex(4)}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except SQLAlchemyError:
        admin.dispose()
        raise

    def drop() -> None:
        try:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        finally:
            admin.dispose()

    return url.set(database=name).render_as_string(hide_password=False), drop


def _postgres_for_suzhou(
    server_url: str | None, *, required: bool, stack: list[Callable[[], None]]
) -> str | None:
    if server_url is None:
        return None
    try:
        database_url, drop = _create_database(server_url)
    except SQLAlchemyError as exc:
        shown = make_url(server_url).render_as_string(hide_password=True)
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        if required:
            raise DemoError(f"PostgreSQL at {shown} is unreachable: {reason}") from exc
        say(f"PostgreSQL at {shown} is unreachable ({reason}); 苏州 uses SQLite instead")
        return None
    stack.append(drop)
    return database_url


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
            federation.request_join(anchor, federation.entity_configuration(gw))
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


def _spawn(g: DemoGateway) -> None:
    g.log = g.data_dir / "serve.log"
    g._log_handle = g.log.open("wb")
    g.proc = subprocess.Popen(  # noqa: S603 - our own console script, fixed arguments
        [str(Path(sys.executable).with_name("ecert")), "serve", "--data-dir", str(g.data_dir),
         "--host", "127.0.0.1", "--port", str(g.port)],
        stdin=subprocess.DEVNULL, stdout=g._log_handle, stderr=subprocess.STDOUT, env=g.env,
    )  # fmt: skip


def _tail(path: Path | None, lines: int = 15) -> str:
    if path is None or not path.exists():
        return ""
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def _wait_ready(gateways: Mapping[str, DemoGateway], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    waiting = dict(gateways)
    with httpx.Client(timeout=2.0) as client:
        while waiting:
            for key, g in list(waiting.items()):
                assert g.proc is not None
                if g.proc.poll() is not None:
                    raise DemoError(
                        f"{g.label} ({g.url}) exited {g.proc.returncode} before it was "
                        f"ready; its log:\n{_tail(g.log)}"
                    )
                try:
                    if client.get(f"{g.url}/healthz").status_code == 200:
                        del waiting[key]
                except httpx.TransportError:
                    pass
            if waiting and time.monotonic() > deadline:
                names = ", ".join(f"{g.label} {g.url}" for g in waiting.values())
                raise DemoError(f"no answer at /healthz within {timeout:.0f}s from {names}")
            if waiting:
                time.sleep(0.2)


def start_federation(
    base: Path,
    *,
    ports: Mapping[str, int],
    refresh: float,
    status_ttl: int,
    postgres: str | None,
    postgres_required: bool = False,
    ready_timeout: float = READY_TIMEOUT,
) -> DemoFederation:
    """Set up the six gateways under ``base`` (wiped first), start them, wait until they answer.

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
        pg_url = _postgres_for_suzhou(postgres, required=postgres_required, stack=cleanups)
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
            if database_url.startswith("postgresql"):
                env["ECERT_DATABASE_URL"] = database_url
            fed.gateways[spec.key] = DemoGateway(
                spec=spec, url=f"http://127.0.0.1:{ports[spec.key]}", port=ports[spec.key],
                data_dir=data_dir, database_url=database_url, env=child_env(env),
            )  # fmt: skip
        _set_up(fed.gateways)
        for g in fed.gateways.values():
            _spawn(g)
        _wait_ready(fed.gateways, ready_timeout)
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
        f"Logs: {fed['yrd'].data_dir.parent}/<gateway>/serve.log · Ctrl-C stops all six "
        "gateways · 按 Ctrl-C 停止",
        "",
    ]
    return "\n".join(lines)


class _Stop(Exception):
    """SIGTERM or Ctrl-C to the demo: stop the gateways."""


@contextmanager
def _signals_stop() -> Iterator[None]:
    """SIGINT and SIGTERM raise :class:`_Stop`, even where the shell started us with SIGINT
    ignored (a background job), so every way of stopping the demo stops its children."""

    def handler(_signum: int, _frame: FrameType | None) -> None:
        raise _Stop

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, before in previous.items():
            signal.signal(s, before)


def _ignore_signals() -> None:
    """A second Ctrl-C must not cut the clean-up short (children, the PostgreSQL database)."""
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, signal.SIG_IGN)


def _watch(fed: DemoFederation) -> None:
    """Report gateways that exit; return once none is left (a signal ends it earlier)."""
    reported: set[str] = set()
    while len(reported) < len(fed.gateways):
        time.sleep(1.0)
        for key in fed.dead():
            if key not in reported:
                reported.add(key)
                g = fed[key]
                say(f"{g.label} ({g.url}) stopped; its log: {g.log}")


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
) -> None:
    """Two regions, six gateways on ports 9100-9105, until interrupted. 跨区域联邦演示"""
    with _signals_stop():
        try:
            fed = start_federation(
                data_dir, ports=DEMO_PORTS, refresh=refresh, status_ttl=status_ttl,
                postgres=postgres,
            )  # fmt: skip
        except _Stop:
            say("stopped while starting · 启动中止")
            raise typer.Exit(1) from None
        try:
            write_info(fed)
            say(banner(fed, INFO_FILE))
            _watch(fed)
            say("every gateway has stopped · 所有网关均已停止")
            code = 1
        except _Stop:
            say("stopping the six gateways · 正在停止")
            code = 0
        finally:
            _ignore_signals()
            fed.stop()
    raise typer.Exit(code)
