"""The processes of ``ecert demo-federation``: one ``ecert serve`` child per gateway.

:class:`DemoGateway` is one gateway of a running demo (identity, storage, agencies, process) and
:class:`DemoFederation` all of them, with :meth:`~DemoFederation.kill` (a crash),
:meth:`~DemoFederation.dead` and :meth:`~DemoFederation.stop` (SIGTERM, then SIGKILL, then the
clean-ups). Beside them: the children's environment, spawning them, waiting for ``/healthz``,
the throw-away PostgreSQL database for 苏州, and the signal handling of the foreground command.

Deliberately not here: which gateways the demo has, who trusts whom, and the command itself
(:mod:`cli.federation_demo`). Nothing here opens a gateway or decides anything about trust; it
only starts, watches and stops processes set up elsewhere.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, Any

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from cli.common import say
from trust.errors import EcertError

STOP_GRACE = 5.0  # seconds between SIGTERM and SIGKILL


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
            "pid": self.proc.pid if self.proc is not None else None,
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


def postgres_for_suzhou(
    server_url: str | None, *, required: bool, stack: list[Callable[[], None]]
) -> str | None:
    """苏州's database URL on ``server_url`` (its dropper pushed on ``stack``), or ``None``.

    ``None`` without a server, or when it is unreachable and not ``required`` (苏州 then uses
    SQLite); unreachable and ``required`` raises :class:`DemoError`.
    """
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


def spawn(g: DemoGateway) -> None:
    """Start ``g``'s ``ecert serve`` on loopback, its output to ``serve.log`` in its data dir."""
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


def wait_ready(gateways: Mapping[str, DemoGateway], timeout: float) -> None:
    """Return once every gateway answers ``/healthz`` with 200; :class:`DemoError` if one exits
    first (with the end of its log) or ``timeout`` seconds pass."""
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


class StopRequested(Exception):
    """SIGTERM or Ctrl-C to the demo: stop the gateways."""


@contextmanager
def signals_stop() -> Iterator[None]:
    """SIGINT and SIGTERM raise :class:`StopRequested`, even where the shell started us with SIGINT
    ignored (a background job), so every way of stopping the demo stops its children."""

    def handler(_signum: int, _frame: FrameType | None) -> None:
        raise StopRequested

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, before in previous.items():
            signal.signal(s, before)


def ignore_signals() -> None:
    """A second Ctrl-C must not cut the clean-up short (children, the PostgreSQL database)."""
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, signal.SIG_IGN)


def watch(fed: DemoFederation) -> None:
    """Report gateways that exit; return once none is left (a signal ends it earlier)."""
    reported: set[str] = set()
    while len(reported) < len(fed.gateways):
        time.sleep(1.0)
        for key in fed.dead():
            if key not in reported:
                reported.add(key)
                g = fed[key]
                say(f"{g.label} ({g.url}) stopped; its log: {g.log}")
