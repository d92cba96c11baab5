"""``ecert demo-cluster`` (``make demo-cluster``): one city on three processes behind HAProxy.

The city's gateway lives in one PostgreSQL database (``--database-url``, or
``ECERT_CLUSTER_DATABASE_URL``, by default ``ecert_cluster_demo`` on the local server, created
when missing) and one data directory (its key passphrase, ``haproxy.cfg``, each process's log).
The first run makes the city (杭州市) and an agency, and keeps that agency's API key in
``agency.json`` there (a demo's, never a production practice); later runs serve the same city.
HAProxy listens on the city's public URL; each process on a loopback port of its own
(:mod:`cli.cluster_procs` says how HAProxy checks, retries and times out). Ctrl-C (or SIGTERM)
stops everything.

Deliberately not here: starting and stopping the processes (:mod:`cli.cluster_procs`).
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer

from cli.cluster_procs import (
    LOOPBACK,
    ClusterError,
    child_env,
    ecert_bin,
    ensure_database,
    start_cluster,
)
from cli.common import say

DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/ecert_cluster_demo"
AGENCY_FILE = "agency.json"
AMR_USCC = "11330100MB1958123M"
TYPES = "business-licence,food-business-permit"


def _ecert(args: list[str], data_dir: Path, database_url: str) -> str:
    done = subprocess.run(  # noqa: S603 - our own console script, fixed arguments
        [str(ecert_bin()), *args, "--data-dir", str(data_dir)],
        capture_output=True, text=True, timeout=120, check=False,
        env=child_env({"ECERT_DATABASE_URL": database_url}),
    )  # fmt: skip
    if done.returncode != 0:
        raise ClusterError(
            f"`ecert {' '.join(args[:2])}` 失败 · exited {done.returncode}: "
            f"{(done.stderr or done.stdout).strip()[-800:]}"
        )
    return done.stdout


def prepare_city(data_dir: Path, database_url: str, public_url: str) -> dict[str, Any]:
    """The city in ``database_url`` with ``public_url``, made on the first run, and the demo
    agency (``id``, ``api_key``) kept in ``data_dir/agency.json``."""
    data_dir.mkdir(parents=True, exist_ok=True)
    ensure_database(database_url)
    agency_file = data_dir / AGENCY_FILE
    try:
        _ecert(["city", "show", "--json"], data_dir, database_url)
    except ClusterError:  # no city yet in this database and data directory
        _ecert(["init", "--city-code", "330100", "--city-name", "杭州市",
                "--public-url", public_url], data_dir, database_url)  # fmt: skip
    else:
        _ecert(["city", "set-url", public_url], data_dir, database_url)
    if not agency_file.exists():
        out = _ecert(["agency", "add", "--json", "--name", "杭州市市场监督管理局",
                      "--uscc", AMR_USCC, "--types", TYPES], data_dir, database_url)  # fmt: skip
        made = json.loads(out)
        agency = {"id": made["id"], "api_key": made["api_key"]}
        partial = agency_file.with_name(AGENCY_FILE + ".partial")
        partial.write_text(json.dumps(agency, ensure_ascii=False), encoding="utf-8")
        partial.replace(agency_file)
    loaded: dict[str, Any] = json.loads(agency_file.read_text(encoding="utf-8"))
    return loaded


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def demo_cluster(
    data_dir: Annotated[Path, typer.Option("--data-dir", help="数据目录")] = Path(".ecert/cluster"),
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="HAProxy's port")] = 8080,
    processes: Annotated[int, typer.Option("--processes", min=1, max=16)] = 3,
    database_url: Annotated[
        str, typer.Option("--database-url", envvar="ECERT_CLUSTER_DATABASE_URL")
    ] = DEFAULT_DATABASE_URL,
) -> None:
    """One city on N processes behind HAProxy, on one PostgreSQL. 多进程集群演示"""
    data_dir = data_dir.resolve()
    public_url = f"http://{LOOPBACK}:{port}"
    agency = prepare_city(data_dir, database_url, public_url)
    ports = [port + i for i in range(1, processes + 1)]
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    cluster = None
    try:
        cluster = start_cluster(data_dir=data_dir, database_url=database_url, port=port,
                                gateway_ports=ports)  # fmt: skip
        say(f"杭州市 集群已启动 · city cluster up: {public_url} (HAProxy)")
        for gw in cluster.gateways:
            say(f"  {gw.name}: {gw.url}  (pid {gw.proc.pid}, log {gw.log})")
        say(f"  HAProxy config 配置: {cluster.config}")
        say(f"  verify page 核验页面: {public_url}/v   health: {public_url}/healthz")
        say(f"  agency 签发机构 {agency['id']}, API key: {agency['api_key']}")
        say("Ctrl-C 停止全部进程 · Ctrl-C stops everything")
        reported: set[str] = set()
        while cluster.haproxy is not None and cluster.haproxy.alive():
            for gw in cluster.gateways:
                if not gw.alive() and gw.name not in reported:
                    reported.add(gw.name)
                    say(f"{gw.name} 已退出 · exited {gw.proc.returncode}; HAProxy routes around it")
            time.sleep(0.5)
        raise ClusterError("HAProxy 已退出 · HAProxy exited; stopping the gateways")
    except KeyboardInterrupt:
        say("正在停止 · stopping HAProxy and the gateways")
    finally:
        if cluster is not None:
            cluster.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
