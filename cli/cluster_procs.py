"""One city on several ``ecert serve`` processes behind HAProxy, on one PostgreSQL database.

:func:`start_cluster` starts ``n`` gateway processes of one city, each on its own loopback port,
and HAProxy (the Debian package) in front of them with the configuration of
:func:`haproxy_config`; :class:`Cluster` is what runs, with :meth:`~Cluster.kill` (a crash) and
:meth:`~Cluster.stop` (SIGTERM, then SIGKILL, every child). ``make demo-cluster``
(:mod:`cli.cluster_demo`), ``make load --cluster N`` (:mod:`loadtests.run_load`) and the cluster
tests (``tests/cluster/``) start theirs here.

What HAProxy does for the city (HAProxy 2.6 configuration manual, sections 4.2 and 5.2):

- health checks: ``GET /healthz`` every second (every 0.5 s while a server changes state); two
  failures take a process out, two successes bring it back;
- retries: a request is read whole before it goes to a process (``option http-buffer-request``,
  up to HAProxy's 16 KB buffer: a larger one, a photo to ``/verify/image``, is not resent once
  sent); a request whose connection to a process failed is sent to another one
  (``retry-on conn-failure`` with ``option redispatch``), whatever its method: it never reached
  a gateway. A request that reached one and got no answer (the process died under it) is sent
  again only when repeating it is safe: ``GET``/``HEAD``/``OPTIONS``, and ``POST`` to the
  verify endpoints (``/api/v1/verify``, ``…/image``, ``…/batch``): a verify reads in-memory
  trust and status data and writes nothing (only the metrics count a repeat twice), so its
  answer is the same however often it is asked. Issuance and status changes are never
  repeated by the balancer: the client sees the error and decides (an issuance is idempotent
  per batch row, not per request);
- what no balancer can do: send a request again once its answer has begun. ``ecert serve``
  writes an answer's head and body in one socket write (:mod:`gateway.coalesce`), so a process
  killed mid-answer is rare; should it happen the client has a cut answer (HAProxy logs ``SD``),
  which a verify client may simply repeat;
- ``X-Forwarded-For``: uvicorn trusts it from 127.0.0.1 (its ``forwarded_allow_ips``
  default), so the gateways' per-address rate limits count clients, not HAProxy;
- timeouts bound every wait: connect 2 s, a client's request 10 s, a server's answer 15 s.

Every process may run the background federation sync: one at a time leads it (a PostgreSQL
advisory lock, :mod:`gateway.cluster`), and a revocation made through one process reaches the
others on commit (``LISTEN``/``NOTIFY``, :mod:`gateway.notify`).

Deliberately not here: the command (:mod:`cli.cluster_demo`) and what the processes serve.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from cli import ready
from trust.errors import EcertError

LOOPBACK = "127.0.0.1"
STOP_GRACE = 5.0  # seconds between SIGTERM and SIGKILL
READY_TIMEOUT = 60.0  # seconds for every process to answer /healthz
MAX_PROCESSES = 16
VERIFY_PATHS = ("/api/v1/verify", "/api/v1/verify/image", "/api/v1/verify/batch")
HAPROXY_CONFIG = "haproxy.cfg"


class ClusterError(EcertError):
    """The cluster could not be set up or started."""


@dataclass
class Process:
    """One child: a gateway (``ecert serve``) or HAProxy, with its log file."""

    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path
    _handle: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, size: int = 3000) -> str:
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")[-size:]
        except OSError:
            return "(no log)"


@dataclass
class Cluster:
    """HAProxy and the gateways behind it; :meth:`stop` ends every one of them."""

    url: str  # HAProxy's: the city's public URL
    gateways: list[Process]
    haproxy: Process | None = None
    config: Path | None = None
    _stopped: list[Process] = field(default_factory=list)

    def kill(self, index: int) -> None:
        """SIGKILL gateway ``index`` (a crash, not a shutdown)."""
        proc = self.gateways[index].proc
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=STOP_GRACE)

    def stop(self) -> None:
        """HAProxy first (no new requests), then every gateway: SIGTERM, SIGKILL after a grace."""
        children = [p for p in (self.haproxy, *self.gateways) if p is not None]
        for child in children:
            if child.alive():
                child.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        for child in children:
            try:
                child.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.proc.kill()
                child.proc.wait(timeout=STOP_GRACE)
            if child._handle is not None:
                child._handle.close()
                child._handle = None


def haproxy_config(*, port: int, gateways: Sequence[int], host: str = LOOPBACK) -> str:
    """HAProxy's configuration: ``host:port`` in front of the gateways on loopback ports."""
    if not 1 <= len(gateways) <= MAX_PROCESSES:
        raise ClusterError(
            f"进程数应为 1 到 {MAX_PROCESSES} · expected 1 to {MAX_PROCESSES} gateway processes, "
            f"found {len(gateways)}"
        )
    servers = "\n".join(
        f"    server gw{i} {LOOPBACK}:{p} check" for i, p in enumerate(gateways, start=1)
    )
    verify = " ".join(VERIFY_PATHS)
    return f"""# One city behind HAProxy: written by `ecert demo-cluster` (cli/cluster_procs.py).
global
    maxconn 4096
    log stdout format raw daemon

defaults
    mode http
    log global
    option httplog
    option dontlog-normal  # only errors, retries and redispatches
    option forwardfor
    timeout connect 2s
    timeout client 30s
    timeout http-request 10s
    timeout server 15s
    timeout queue 5s
    timeout http-keep-alive 10s
    # a request is tried again, on another process, up to 3 times
    retries 3
    # a request is read whole (up to a 16 KB buffer) before it is sent: what L7 retries resend
    option http-buffer-request
    option redispatch 1
    retry-on conn-failure empty-response junk-response response-timeout 502 503 504

frontend city
    bind {host}:{port}
    default_backend gateways

backend gateways
    balance leastconn
    option httpchk
    http-check send meth GET uri /healthz
    http-check expect status 200
    default-server inter 1s fastinter 500ms downinter 1s fall 2 rise 2
    # a request that reached a process is repeated only when repeating it is safe (see above)
    acl safe_method method GET HEAD OPTIONS
    acl verify path {verify}
    http-request disable-l7-retry if !safe_method !verify
{servers}
"""


def ensure_database(url: str) -> bool:
    """Create the PostgreSQL database of ``url`` if it is missing; whether it was created."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("postgresql"):
        raise ClusterError(
            f"集群需要 PostgreSQL 数据库 · expected a postgresql+psycopg:// URL, found "
            f"{parsed.drivername}://"
        )
    name = parsed.database
    if not name or '"' in name:
        raise ClusterError(f"数据库名无效 · expected a database name in the URL, found {name!r}")
    admin = create_engine(
        parsed.set(database="postgres"), isolation_level="AUTOCOMMIT",
        connect_args={"connect_timeout": 3},
    )  # fmt: skip
    try:
        with admin.connect() as conn:
            found = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
            ).first()
            if found is None:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            return found is None
    except SQLAlchemyError as exc:
        shown = parsed.render_as_string(hide_password=True)
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise ClusterError(
            f"无法连接 PostgreSQL {shown} · cannot reach PostgreSQL at {shown}: {reason}"
        ) from exc
    finally:
        admin.dispose()


def ecert_bin() -> Path:
    """The ``ecert`` console script of the running interpreter's environment."""
    return Path(sys.executable).parent / "ecert"


def child_env(extra: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without any ``ECERT_*`` variable, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECERT_")}
    env.update(extra)
    return env


def _spawn(name: str, port: int, cmd: list[str], env: Mapping[str, str], log: Path) -> Process:
    handle = log.open("wb")
    try:
        proc = subprocess.Popen(  # noqa: S603 - our console script or haproxy, fixed arguments
            cmd, stdin=subprocess.DEVNULL, stdout=handle, stderr=subprocess.STDOUT, env=dict(env)
        )
    except OSError:
        handle.close()
        raise
    return Process(name=name, port=port, proc=proc, log=log, _handle=handle)


def wait_healthy(process: Process, url: str, deadline: float) -> None:
    """Until ``url/healthz`` answers 200; :class:`ClusterError` when the process exits first
    or ``deadline`` (monotonic) passes."""
    missed = ready.wait_healthy(url, exit_code=process.proc.poll, deadline=deadline)
    if missed is None:
        return
    if missed.exit_code is not None:
        raise ClusterError(
            f"{process.name} 启动失败 · {process.name} exited {missed.exit_code} "
            f"before it was ready:\n{process.log_tail()}"
        )
    raise ClusterError(
        f"{process.name} 未就绪 · {process.name} did not answer {url}/healthz in time "
        f"({missed.last}):\n{process.log_tail()}"
    )


def start_cluster(
    *,
    data_dir: Path,
    database_url: str,
    port: int,
    gateway_ports: Sequence[int],
    env: Mapping[str, str] | None = None,
    ready_timeout: float = READY_TIMEOUT,
) -> Cluster:
    """HAProxy on ``port`` in front of one ``ecert serve`` per ``gateway_ports``, all of the
    gateway in ``data_dir`` on ``database_url`` (made beforehand: ``ecert init``); its config
    is written to ``data_dir/haproxy.cfg``, logs beside it. ``env``: more ``ECERT_*`` settings.
    Whatever started is stopped again when a part fails to start."""
    haproxy = shutil.which("haproxy") or (
        "/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None
    )
    if haproxy is None:
        raise ClusterError(
            "未找到 haproxy，请安装：apt-get install haproxy · haproxy not found: expected the "
            "Debian package (apt-get install haproxy)"
        )
    config = data_dir / HAPROXY_CONFIG
    config.write_text(haproxy_config(port=port, gateways=gateway_ports), encoding="utf-8")
    check = subprocess.run(  # noqa: S603 - haproxy's own configuration check
        [haproxy, "-c", "-q", "-f", str(config)], capture_output=True, text=True, timeout=30,
        check=False,
    )  # fmt: skip
    if check.returncode != 0:
        raise ClusterError(
            f"HAProxy 配置无效 · haproxy refused {config}: {(check.stderr or check.stdout)[-800:]}"
        )
    cluster = Cluster(url=f"http://{LOOPBACK}:{port}", gateways=[], config=config)
    base = {"ECERT_DATABASE_URL": database_url, **(env or {})}
    deadline = time.monotonic() + ready_timeout
    try:
        for i, gw_port in enumerate(gateway_ports, start=1):
            cmd = [str(ecert_bin()), "serve", "--data-dir", str(data_dir),
                   "--host", LOOPBACK, "--port", str(gw_port)]  # fmt: skip
            cluster.gateways.append(
                _spawn(f"gateway {i}", gw_port, cmd, child_env(base), data_dir / f"gateway-{i}.log")
            )
        for gw in cluster.gateways:
            wait_healthy(gw, gw.url, deadline)
        cluster.haproxy = _spawn(
            "haproxy", port, [haproxy, "-db", "-f", str(config)], child_env({}),
            data_dir / "haproxy.log",
        )  # fmt: skip
        wait_healthy(cluster.haproxy, cluster.url, deadline)
    except BaseException:
        cluster.stop()
        raise
    return cluster
