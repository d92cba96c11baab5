"""Shared helpers for the benchmark (``loadtests.bench``) and the load test (``run_load``).

- A real gateway in a subprocess on a free loopback port: ``ecert init``, ``ecert agency add
  --json``, ``ecert serve``; stopped (by its own process id) and cleaned up on every exit path.
  Optionally a region trust anchor on its own loopback URL, so the federation's public GETs
  answer without a second gateway (and its own federation sync fetches only from 127.0.0.1).
- Realistic request data: business-licence subjects with distinct names, and garbage QR texts
  that a verifier must refuse (malformed, tampered, unknown key, ``alg: none``).
- Small statistics: percentiles, medians.

Light on purpose: the locustfile imports this module inside a gevent-patched process, so it
imports neither the gateway nor any database code. Nothing here touches the network except
127.0.0.1.
"""

from __future__ import annotations

import base64
import json
import os
import random
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from stdnum.cn import uscc

from cli import ready
from tests.issuers.samples import SAMPLE_SUBJECTS
from trust.claims import CREDENTIAL_TYP
from trust.encoding import jws_to_numeric, numeric_to_jws

REPO = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"
CITY_CODE = "330100"
CITY_NAME = "杭州市"
PUBLIC_URL = "https://ecert.hangzhou.gov.cn"
REGION_ID = "yrd"
REGION_NAME = "长三角"

# The demo's two agencies (gateway/demo.py), with their USCC check characters computed once.
AMR_NAME = "杭州市市场监督管理局"
AMR_USCC = "11330100MB1958123M"
AMR_TYPES = (
    "business-licence",
    "food-business-permit",
    "drug-trading-permit",
    "industrial-production-permit",
)
PSB_NAME = "杭州市公安局"
PSB_USCC = "11330100002490365L"
PSB_TYPES = ("resident-eid", "driving-licence", "no-housing-proof")

LONG_NAME = "浙江省杭州市西湖区云栖小镇数字经济科技创新发展研究院有限公司"
assert len(LONG_NAME) == 30  # the DOMAIN-CN QR budget case: a 30-character company name

_READY_TIMEOUT = 60.0
_STOP_TIMEOUT = 15.0
_LOG_TAIL = 3000


class SetupError(RuntimeError):
    """The gateway under test could not be prepared or started."""


def ecert_bin() -> Path:
    """The ``ecert`` console script of the running interpreter's environment."""
    return Path(sys.executable).parent / "ecert"


def child_env(**extra: str) -> dict[str, str]:
    """This process's environment without any ``ECERT_*`` setting (a developer's database URL
    or passphrase must not leak into a throw-away gateway), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECERT_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
    # Every request of a load test comes from one address: the gateway is measured, not its
    # rate limits (ECERT_RATE_LIMITS=1 in ``extra`` measures them too).
    env["ECERT_RATE_LIMITS"] = "0"
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def licence_subject(n: int, *, name: str | None = None) -> dict[str, Any]:
    """The sample business licence of a distinct company for each ``n``: its own name and its
    own USCC (one live licence per holder), with a real GB 32100 check character."""
    subject = dict(SAMPLE_SUBJECTS["business-licence"])
    subject["name"] = name if name is not None else f"杭州云栖数字科技{n:06d}有限公司"
    first17 = f"9133010{n:010d}"
    subject["uscc"] = first17 + uscc.calc_check_digit(first17)
    return subject


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by linear interpolation; ``nan`` when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


# --- QR texts a verifier must refuse ----------------------------------------------------------


def _b64(obj: dict[str, Any]) -> str:
    raw = json.dumps(obj, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _flip(segment: str, at: int) -> str:
    ch = segment[at]
    return segment[:at] + ("A" if ch != "A" else "B") + segment[at + 1 :]


def token_of(qr_text: str) -> str:
    """The compact JWS inside ``{url}/v#{digits}``."""
    return numeric_to_jws(qr_text.rsplit("#", 1)[1])


def garbage_texts(valid_qr: str, *, seed: int = 7) -> list[str]:
    """Scanned texts a verifier must answer with a non-VALID reason (never an error)."""
    rng = random.Random(seed)
    base = valid_qr.rsplit("#", 1)[0]
    h64, p64, s64 = token_of(valid_qr).split(".")
    unknown_kid = _b64({"typ": CREDENTIAL_TYP, "alg": "ES256", "kid": "AAAAAAAAAAA"})
    alg_none = _b64({"typ": CREDENTIAL_TYP, "alg": "none", "kid": "AAAAAAAAAAA"})
    random_digits = "".join(rng.choice("0123456789") for _ in range(900))
    return [
        "hello, this is not a certificate",  # MALFORMED
        base,  # a verify URL without a fragment: MALFORMED
        f"{base}#12345",  # odd number of digits: MALFORMED
        f"{base}#{random_digits}",  # digits that decode to no JWS: MALFORMED
        valid_qr[: len(valid_qr) - 40],  # a truncated scan: MALFORMED or BAD_SIGNATURE
        f"{h64}.{p64}.{_flip(s64, 10)}",  # tampered signature: BAD_SIGNATURE
        f"{base}#{jws_to_numeric(f'{h64}.{_flip(p64, 20)}.{s64}')}",  # tampered payload
        f"{unknown_kid}.{p64}.{s64}",  # UNKNOWN_ISSUER
        f"{alg_none}.{p64}.",  # UNSUPPORTED or MALFORMED, never VALID
    ]


# --- a real gateway in a subprocess -----------------------------------------------------------


@dataclass
class GatewayServer:
    data_dir: Path
    port: int
    agency_id: str
    api_key: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def log_tail(self) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return text[-_LOG_TAIL:]

    def cpu_seconds(self) -> float | None:
        """User + system CPU time of the server process so far (Linux ``/proc``), else None."""
        return cpu_seconds(self.process.pid, children=False)


# The kernel counts a process's CPU time in clock ticks (10 ms at the usual 100 Hz), so a reading
# of fewer ticks than this says little: 30 fast requests can read 0 ms.
MIN_CPU_TICKS = 10
CLOCK_TICK_SECONDS = 1.0 / os.sysconf("SC_CLK_TCK")


def child_pids(pid: int) -> list[int]:
    """Process ids whose parent is ``pid`` (Linux ``/proc``)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):  # a process that ended meanwhile
            continue
        if ppid == pid:
            found.append(int(stat.parent.name))
    return found


def cpu_seconds(pid: int, *, children: bool = True) -> float | None:
    """User + system CPU seconds so far of ``pid`` and, with ``children``, of every process
    under it (Linux ``/proc``); None when ``pid`` has ended or there is no ``/proc``."""
    total, pending, seen = 0.0, [pid], False
    while pending:
        one = pending.pop()
        try:
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):  # ended meanwhile
            continue
        seen = True
        # proc(5): utime and stime are fields 14 and 15; fields[0] here is field 3 (state).
        total += (int(fields[11]) + int(fields[12])) * CLOCK_TICK_SECONDS
        if children:
            pending.extend(child_pids(one))
    return total if seen else None


def cpu_ms_each(before: float | None, after: float | None, count: int) -> float | None:
    """CPU milliseconds a request between two :func:`cpu_seconds` readings, or None when either
    reading failed, nothing was counted, or the time used is too few clock ticks to mean much."""
    if before is None or after is None or count <= 0:
        return None
    used = after - before
    if used < MIN_CPU_TICKS * CLOCK_TICK_SECONDS:
        return None
    return 1000.0 * used / count


def _ecert(args: list[str], data_dir: Path) -> str:
    return run_ecert([*args, "--data-dir", str(data_dir)], child_env())


def prepare_data_dir(
    data_dir: Path, *, types: Sequence[str] = AMR_TYPES, public_url: str = PUBLIC_URL
) -> tuple[str, str]:
    """``ecert init`` and ``ecert agency add --json``; returns ``(agency_id, api_key)``."""
    _ecert(
        ["init", "--city-code", CITY_CODE, "--city-name", CITY_NAME, "--public-url", public_url],
        data_dir,
    )
    types_arg = [",".join(types)]
    out = _ecert(
        ["agency", "add", "--json", "--name", AMR_NAME, "--uscc", AMR_USCC, "--types", *types_arg],
        data_dir,
    )
    try:
        agency = json.loads(out)
        return str(agency["id"]), str(agency["api_key"])
    except (ValueError, KeyError, TypeError) as exc:
        raise SetupError(f"`ecert agency add --json` printed no usable JSON: {out!r}") from exc


def make_anchor(data_dir: Path) -> None:
    """``ecert federation init-anchor``, then ``ecert federation sync`` once, which compiles the
    first trust list (so ``/trust/list`` answers from the start). Its fetch of the gateway's own
    configuration fails (not served yet) and is only reported; the public URL must be loopback."""
    _ecert(
        ["federation", "init-anchor", "--region-id", REGION_ID, "--region-name", REGION_NAME],
        data_dir,
    )
    _ecert(["federation", "sync", "--json"], data_dir)


def wait_ready(server: GatewayServer, timeout: float) -> None:
    """Until ``server`` answers ``/healthz``; :class:`SetupError` if it exits or ``timeout``
    seconds pass."""
    missed = ready.wait_healthy(
        server.base_url, exit_code=server.process.poll, deadline=time.monotonic() + timeout
    )
    if missed is None:
        return
    if missed.exit_code is not None:
        raise SetupError(
            f"`ecert serve` exited {missed.exit_code} before it was ready:\n{server.log_tail()}"
        )
    raise SetupError(
        f"`ecert serve` not ready after {timeout:.0f} s ({missed.last}):\n{server.log_tail()}"
    )


def stop(process: subprocess.Popen[bytes], timeout: float = _STOP_TIMEOUT) -> None:
    """Stop one child we started: SIGTERM (uvicorn shuts down gracefully), then SIGKILL."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout)


def run_ecert(args: list[str], env: dict[str, str]) -> str:
    """``ecert *args`` with ``env`` (:func:`child_env`'s); its output, :class:`SetupError` if it
    fails."""
    done = subprocess.run(  # noqa: S603 - our own console script, fixed arguments
        [str(ecert_bin()), *args], capture_output=True, text=True, env=env, timeout=120,
        check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise SetupError(f"`ecert {' '.join(args[:2])}` exited {done.returncode}: "
                         f"{(done.stderr or done.stdout).strip()[-_LOG_TAIL:]}")  # fmt: skip
    return done.stdout


def answers(url: str) -> bool:
    """Whether a gateway answers ``GET /healthz`` on ``url`` now."""
    try:
        return httpx.get(f"{url}/healthz", timeout=2.0).status_code == 200
    except httpx.TransportError:
        return False


@contextmanager
def served(args: list[str], env: dict[str, str], log: Path) -> Iterator[tuple[str, int]]:
    """``ecert serve *args`` on a free loopback port, its output to ``log``: its URL and pid
    once it said it started (every worker serving, with ``--workers``) and answers (one process
    says it before it listens); stopped on every exit path."""
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - our own console script, fixed arguments
            [str(ecert_bin()), "serve", *args, "--host", LOOPBACK, "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
        )  # fmt: skip
    url = f"http://{LOOPBACK}:{port}"
    try:
        deadline = time.monotonic() + _READY_TIMEOUT
        while _STARTED not in log.read_text(encoding="utf-8", errors="replace") or not answers(url):
            if process.poll() is not None or time.monotonic() > deadline:
                said = log.read_text(encoding="utf-8", errors="replace")[-_LOG_TAIL:]
                raise SetupError(f"`ecert serve {' '.join(args)}` did not start:\n{said}")
            time.sleep(0.1)
        yield url, process.pid
    finally:
        stop(process)


_STARTED = "网关已启动"  # what `ecert serve` says once every process serves


@contextmanager
def running_gateway(
    root: Path,
    *,
    types: Sequence[str] = AMR_TYPES,
    ready_timeout: float = _READY_TIMEOUT,
    anchor: bool = False,
    env: dict[str, str] | None = None,
) -> Iterator[GatewayServer]:
    """A fresh data dir under ``root`` and ``ecert serve`` on a free loopback port. With
    ``anchor`` the gateway is also its region's trust anchor, its public URL its loopback
    address (its entity id must be reachable for its own sync). ``env``: ``ECERT_*`` settings
    for the server process (``ECERT_ACCESS_LOG=off`` …)."""
    data_dir = root / "data"
    port = free_port()
    public_url = f"http://{LOOPBACK}:{port}" if anchor else PUBLIC_URL
    agency_id, api_key = prepare_data_dir(data_dir, types=types, public_url=public_url)
    if anchor:
        make_anchor(data_dir)
    log_path = root / "serve.log"
    serve_args = [str(ecert_bin()), "serve", "--data-dir", str(data_dir)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 - our own console script, fixed arguments
            [*serve_args, "--host", LOOPBACK, "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=child_env(**(env or {})),
        )
    server = GatewayServer(data_dir, port, agency_id, api_key, process, log_path)
    try:
        wait_ready(server, ready_timeout)
        yield server
    finally:
        stop(process)


def issue_http(client: httpx.Client, server: GatewayServer, subject: dict[str, Any]) -> Any:
    """Issue one business licence over HTTP; the response JSON (``id``, ``qr_text`` …)."""
    response = client.post(
        "/api/v1/credentials",
        json={"type": "business-licence", "subject": subject},
        headers=server.auth,
    )
    if response.status_code != 201:
        raise SetupError(f"issue answered {response.status_code}: {response.text[:500]}")
    return response.json()


@contextmanager
def throwaway_database(server_url: str, prefix: str = "ecert_load") -> Iterator[str]:
    """A new ``<prefix>_<random>`` database on the server of ``server_url``, dropped after (every
    connection to it closed first); its URL. :class:`SetupError` when the server cannot make
    one. The database code is imported here, not at the top (see the module's note)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    url = make_url(server_url)
    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    try:
        try:
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        except SQLAlchemyError as exc:
            shown = url.render_as_string(hide_password=True)
            raise SetupError(f"cannot make a database on {shown}: {exc}") from exc
        try:
            yield url.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()
