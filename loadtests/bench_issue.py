"""Issuing at the speed of the database (issue 13): the figures ``make bench`` prints for it.

Measured in one run, each beside raw ``cryptography`` ES256 sign/s measured in the same run:

1. raw ES256 signs a CPU-second of one core (DER signatures over a token-sized input, the median
   of 5 rounds timed by CPU time: the wall clock of a busy machine moved it 6×): the baseline;
2. single HTTP issuance, ``POST /api/v1/credentials``, from 8 concurrent clients, on PostgreSQL
   and on SQLite: a real ``ecert serve`` subprocess on a free loopback port, driven by ``wrk``
   (C, epoll; its Lua script reads one distinct licence a request from a file, so no holder is
   issued twice). The load generator is another process and spends little CPU: the gateway's
   own CPU is read from ``/proc`` before and after.
   "Per core" is defined as 1 / (the gateway process's CPU seconds per issuance): 1,000/s per
   core means at most 1 ms of gateway CPU an issuance. The wall rate and what PostgreSQL's
   backends used (their CPU seconds per issuance, also from ``/proc``) are printed beside it;
3. ``ecert issue-batch`` (both passes, in this process, through
   :func:`cli.issue_batch.issue_register`, the command's own code) of a register of
   distinct licences, on SQLite and on PostgreSQL: rows/s, its ratio to raw sign, and each
   chunk's time; "flat" compares the median time of the last tenth of the chunks (at least
   three) with that of the first tenth.

PostgreSQL rows need ``ECERT_BENCH_DATABASE_URL`` (a server where the bench may create and drop
a database of its own, e.g. ``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``); without
it they are skipped and say so. ``--rows 1000000`` runs the register at 1M rows. ``--scale``
shrinks every size (the smoke test runs it at 0.01). It changes no product code and exits 0
when a target is missed: a FAIL is printed clearly.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from cli.issue_batch import issue_register
from gateway import agencies
from gateway.core import Gateway
from gateway.settings import Settings
from loadtests.common import (
    AMR_NAME,
    AMR_TYPES,
    AMR_USCC,
    CITY_CODE,
    CITY_NAME,
    LOOPBACK,
    PUBLIC_URL,
    GatewayServer,
    SetupError,
    child_env,
    cpu_ms_each,
    cpu_seconds,
    ecert_bin,
    free_port,
    licence_subject,
    median,
    run_ecert,
    stop,
    throwaway_database,
    wait_ready,
)

BENCH_DB_ENV = "ECERT_BENCH_DATABASE_URL"
CLIENTS = 8
PER_CORE_TARGET = 1_000.0  # issuances a second per core of the gateway: ≤ 1 ms CPU each
P99_PG_MS = 50.0
P99_SQLITE_MS = 200.0
BATCH_RATIO_TARGET = 0.15
FLAT_TARGET = 1.5  # last chunks' time / first chunks' time
CHUNK = 1_000
EDGE = 3  # at least this many chunks at each end for "flat"

RAW_SIGN = "raw ES256 sign (cryptography)"
HTTP_PG = "HTTP issue, 8 clients, PostgreSQL"
HTTP_SQLITE = "HTTP issue, 8 clients, SQLite"
BATCH_SQLITE = "issue-batch, SQLite"
BATCH_PG = "issue-batch, PostgreSQL"
ROW_NAMES = (RAW_SIGN, HTTP_PG, HTTP_SQLITE, BATCH_SQLITE, BATCH_PG)


def log(message: str) -> None:
    print(f"[bench-issue] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Sizes:
    sign_seconds: float
    http_seconds: int  # wrk's duration
    batch_rows: int

    @classmethod
    def for_scale(cls, scale: float, rows: int | None = None) -> Sizes:
        if not 0 < scale <= 10:
            raise ValueError(f"scale must be in (0, 10], found {scale}")
        return cls(
            sign_seconds=max(0.05, 2.0 * min(scale, 1.0)),
            http_seconds=max(1, round(10 * scale)),
            batch_rows=rows if rows is not None else max(50, int(20_000 * scale)),
        )


@dataclass
class Row:
    """One line of the report: (name, rate, raw baseline, ratio, target, PASS/FAIL)."""

    name: str
    rate: float | None
    baseline: float | None = None
    ratio: float | None = None
    target: str = "-"
    passed: bool | None = None  # None: informational or skipped
    note: str = ""

    def as_tuple(self) -> tuple[str, float | None, float | None, float | None, str, str]:
        return (self.name, self.rate, self.baseline, self.ratio, self.target, verdict(self.passed))


def verdict(passed: bool | None) -> str:
    return "info" if passed is None else "PASS" if passed else "FAIL"


@dataclass
class Report:
    scale: float
    rows: list[Row] = field(default_factory=list)
    chunks: dict[str, list[float]] = field(default_factory=dict)  # seconds a chunk
    elapsed: float = 0.0

    def row(self, name: str) -> Row:
        return next(r for r in self.rows if r.name == name)

    @property
    def failures(self) -> list[str]:
        return [r.name for r in self.rows if r.passed is False]

    def format(self) -> str:
        load = os.getloadavg()
        out = [
            f"\nissuance bench (issue 13) · scale {self.scale:g} · {os.cpu_count()} CPUs · "
            f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} · {self.elapsed:.0f} s\n",
        ]
        head = f"{'name':<36} {'rate/s':>8} {'raw sign/s':>10} {'ratio':>6}  {'target':<30} result"
        out += [head, "-" * len(head)]
        for r in self.rows:
            out.append(
                f"{r.name:<36} {_num(r.rate):>8} {_num(r.baseline):>10} "
                f"{'-' if r.ratio is None else f'{r.ratio:.3f}':>6}  {r.target:<30} "
                f"{verdict(r.passed)}"
            )
        out.append("")
        out += [f"  {r.name}: {r.note}" for r in self.rows if r.note]
        for name, times in self.chunks.items():
            shown = ", ".join(f"{t:.2f}" for t in times[:10])
            more = f" … {', '.join(f'{t:.2f}' for t in times[-5:])}" if len(times) > 10 else ""
            out.append(f"  {name}: seconds a chunk of {CHUNK}: {shown}{more}")
        out.append(
            "  per core = 1 / (gateway process CPU seconds per issuance, from /proc); ratio = "
            "rate (wall clock) / raw sign a CPU-second of this run"
        )
        failures = self.failures
        out.append(f"\nRESULT: FAIL: {', '.join(failures)}" if failures else "\nRESULT: PASS")
        return "\n".join(out) + "\n"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


# --- 1: the baseline ----------------------------------------------------------------------------


SIGN_ROUNDS = 5


def raw_sign_rate(seconds: float) -> float:
    """ES256 signatures a CPU-second with ``cryptography`` over a token-sized signing input: the
    median of :data:`SIGN_ROUNDS` rounds, each timed by this process's CPU time. By the wall
    clock a busy machine made the baseline anything from 45k/s down to 7.4k/s, and a run at load
    4.3 printed a ratio of 0.275 (a false PASS); what one core signs does not move so."""
    private = ec.generate_private_key(ec.SECP256R1())
    algorithm = ec.ECDSA(hashes.SHA256())
    data = secrets.token_bytes(300)
    rates = []
    for _ in range(SIGN_ROUNDS):
        calls = 0
        start, cpu = time.perf_counter(), time.process_time()
        while time.perf_counter() - start < seconds / SIGN_ROUNDS or calls == 0:
            for _ in range(50):
                private.sign(data, algorithm)
            calls += 50
        rates.append(calls / max(time.process_time() - cpu, 1e-6))
    return median(rates)


# --- databases ----------------------------------------------------------------------------------


def _unreachable(base: str) -> str | None:
    """Why the PostgreSQL server of ``base`` cannot be used (``None``: it can): a bench on a
    machine without one skips its PostgreSQL rows and says so instead of stopping."""
    try:
        engine = create_engine(make_url(base))
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        finally:
            engine.dispose()
    except Exception as exc:  # any reason at all: reported in the skipped rows' note
        return str(getattr(exc, "orig", None) or exc).splitlines()[0]
    return None


def _pg_backends(url: str) -> list[int]:
    """Process ids of the PostgreSQL backends connected to ``url``'s database (not this one)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [
                int(pid)
                for pid in conn.execute(
                    text(
                        "SELECT pid FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                ).scalars()
            ]
    finally:
        engine.dispose()


def _cpu_of(pids: Sequence[int]) -> float:
    return sum(cpu_seconds(pid, children=False) or 0.0 for pid in pids)


# --- 2: single HTTP issuance --------------------------------------------------------------------

_WRK_SCRIPT = """
local bodies, step, at = {}, 1, 0
local count = 0
function setup(thread)
  count = count + 1
  thread:set("first", count - 1)
end
function init(args)
  step = tonumber(args[1])
  for line in io.lines(args[2]) do bodies[#bodies + 1] = line end
  at = first
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. args[3]
end
function request()
  local body = bodies[(at % #bodies) + 1]
  at = at + step
  return wrk.format(nil, "/api/v1/credentials", nil, body)
end
function done(summary, latency, requests)
  io.write(string.format(
    '\\nWRK {"requests": %d, "duration_us": %d, "status": %d, "connect": %d, "read": %d, ' ..
    '"write": %d, "timeout": %d, "p50_us": %d, "p99_us": %d, "max_us": %d}\\n',
    summary.requests, summary.duration, summary.errors.status, summary.errors.connect,
    summary.errors.read, summary.errors.write, summary.errors.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
"""
WRK_THREADS = 2
BODIES_A_SECOND = 3_000  # distinct licences written per second of wrk's run (never reused)


@dataclass
class HttpResult:
    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float
    gateway_cpu_ms: float | None  # a request
    pg_cpu_ms: float | None  # a request, every backend of the database

    @property
    def rate(self) -> float:
        return (self.requests - self.errors) / self.seconds

    @property
    def per_core(self) -> float | None:
        return None if not self.gateway_cpu_ms else 1000.0 / self.gateway_cpu_ms


def _ecert(args: list[str], data_dir: Path, env: dict[str, str]) -> str:
    return run_ecert([*args, "--data-dir", str(data_dir)], env)


@contextmanager
def serving(root: Path, db_url: str | None) -> Iterator[GatewayServer]:
    """``ecert init``, ``ecert agency add`` and ``ecert serve`` on a free loopback port, on
    ``db_url`` (None: the data dir's SQLite); stopped on every exit path."""
    data_dir = root / "data"
    env = child_env(**({"ECERT_DATABASE_URL": db_url} if db_url else {}))
    _ecert(["init", "--city-code", CITY_CODE, "--city-name", CITY_NAME,
            "--public-url", PUBLIC_URL], data_dir, env)  # fmt: skip
    made = json.loads(
        _ecert(
            [
                "agency",
                "add",
                "--json",
                "--name",
                AMR_NAME,
                "--uscc",
                AMR_USCC,
                "--types",
                ",".join(AMR_TYPES),
            ],
            data_dir,
            env,
        )
    )
    port = free_port()
    log_path = root / "serve.log"
    with log_path.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - our own console script, fixed arguments
            [str(ecert_bin()), "serve", "--data-dir", str(data_dir), "--host", LOOPBACK,
             "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
        )  # fmt: skip
    server = GatewayServer(data_dir, port, made["id"], made["api_key"], process, log_path)
    try:
        wait_ready(server, 60.0)
        yield server
    finally:
        stop(process)


def _bodies(path: Path, first: int, count: int) -> Path:
    with path.open("w", encoding="utf-8") as out:
        for n in range(first, first + count):
            body = {"type": "business-licence", "subject": licence_subject(n)}
            out.write(json.dumps(body, ensure_ascii=False) + "\n")
    return path


def _wrk(server: GatewayServer, root: Path, bodies: Path, seconds: int) -> dict[str, int]:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SetupError("wrk not found: apt-get install -y wrk")
    script = root / "issue.lua"
    script.write_text(_WRK_SCRIPT, encoding="utf-8")
    threads = min(WRK_THREADS, CLIENTS)
    done = subprocess.run(  # noqa: S603 - wrk, fixed arguments, loopback only
        [wrk, f"-t{threads}", f"-c{CLIENTS}", f"-d{seconds}s", "--timeout", "10s",
         "-s", str(script), server.base_url, "--", str(threads), str(bodies),
         server.api_key],
        capture_output=True, text=True, timeout=seconds + 60, check=False,
    )  # fmt: skip
    found = [line for line in done.stdout.splitlines() if line.startswith("WRK ")]
    if done.returncode != 0 or not found:
        raise SetupError(f"wrk failed ({done.returncode}): {done.stderr[-1000:]}")
    result: dict[str, int] = json.loads(found[-1][4:])
    return result


def http_issue(root: Path, db_url: str | None, seconds: int) -> HttpResult:
    """8 clients issue distinct licences for ``seconds``: rates, latencies, CPU a request."""
    root.mkdir(parents=True, exist_ok=True)
    with serving(root, db_url) as server:
        warm = _bodies(root / "warm.jsonl", 5_000_000, 400)
        _wrk(server, root, warm, 1)  # pools, caches and the status list's slots, warmed
        bodies = _bodies(root / "bodies.jsonl", 6_000_000, BODIES_A_SECOND * seconds + 2_000)
        backends = _pg_backends(db_url) if db_url else []
        cpu_before, pg_before = server.cpu_seconds(), _cpu_of(backends)
        answer = _wrk(server, root, bodies, seconds)
        cpu_after, pg_after = server.cpu_seconds(), _cpu_of(backends)
    requests = answer["requests"]
    errors = sum(answer[k] for k in ("status", "connect", "read", "write", "timeout"))
    gateway_ms = cpu_ms_each(cpu_before, cpu_after, requests)
    return HttpResult(
        requests=requests,
        errors=errors,
        seconds=answer["duration_us"] / 1e6,
        p50_ms=answer["p50_us"] / 1000,
        p99_ms=answer["p99_us"] / 1000,
        gateway_cpu_ms=gateway_ms,
        pg_cpu_ms=cpu_ms_each(pg_before, pg_after, requests) if db_url else None,
    )


def http_row(name: str, result: HttpResult, raw_sign: float, *, p99_target: float,
             per_core_target: float | None) -> Row:  # fmt: skip
    per_core = result.per_core
    passed = result.errors == 0 and result.p99_ms < p99_target
    target = f"p99 < {p99_target:.0f} ms, 0 errors"
    if per_core_target is not None:
        passed = passed and per_core is not None and per_core >= per_core_target
        target = f"≥ {per_core_target:,.0f}/s a core, {target}"
    pg = "" if result.pg_cpu_ms is None else f"; PostgreSQL {result.pg_cpu_ms:.2f} ms CPU a request"
    cpu = "-" if result.gateway_cpu_ms is None else f"{result.gateway_cpu_ms:.2f}"
    return Row(
        name,
        per_core,
        raw_sign,
        None if per_core is None else per_core / raw_sign,
        target,
        passed,
        f"per core {_num(per_core)}/s (gateway {cpu} ms CPU a request); wall "
        f"{result.rate:,.0f}/s; p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms; "
        f"{result.requests} requests, {result.errors} errors{pg}; load from wrk "
        f"({WRK_THREADS} threads, {CLIENTS} connections) in its own process",
    )


# --- 3: issue-batch -----------------------------------------------------------------------------


def write_register(path: Path, rows: int, first: int) -> Path:
    fields = list(licence_subject(0))
    with path.open("w", encoding="utf-8", newline="") as out:
        sheet = csv.DictWriter(out, fieldnames=fields)
        sheet.writeheader()
        for n in range(first, first + rows):
            sheet.writerow(licence_subject(n))
    return path


@contextmanager
def local_gateway(root: Path, db_url: str | None) -> Iterator[tuple[Gateway, str]]:
    """A gateway in this process on ``db_url`` (None: SQLite under ``root``) with 杭州市's
    market regulator; ``(gateway, agency id)``."""
    settings = Settings(
        data_dir=root,
        database_url=db_url or f"sqlite:///{root / 'gateway.db'}",
        key_passphrase="bench-" + secrets.token_hex(12),
        public_url=None,
        demo=False,
    )
    gw = Gateway.open(settings)
    try:
        agencies.init_city(gw, code=CITY_CODE, name=CITY_NAME, public_url=PUBLIC_URL, actor="bench")
        amr, _ = agencies.add_agency(
            gw, name=AMR_NAME, uscc=AMR_USCC, types=list(AMR_TYPES), actor="bench"
        )
        yield gw, amr.id
    finally:
        gw.close()


@dataclass
class BatchResult:
    rows: int
    seconds: float  # both passes
    first_pass: float
    chunks: list[float]
    # CPU seconds of both passes: this process's, and the database's backends' (PostgreSQL;
    # None on SQLite, which runs in this process). On a shared machine the wall rate moves with
    # what else runs; CPU a row moves much less.
    cpu: float = 0.0
    db_cpu: float | None = None
    # CPU seconds of the child processes the run waited for: the second signer (gateway.presign).
    worker_cpu: float = 0.0

    @property
    def rate(self) -> float:
        return self.rows / self.seconds

    @property
    def cpu_us(self) -> float:
        """This process's CPU microseconds a row."""
        return 1e6 * self.cpu / self.rows

    @property
    def worker_cpu_us(self) -> float:
        """The second signer's CPU microseconds a row."""
        return 1e6 * self.worker_cpu / self.rows

    @property
    def db_cpu_us(self) -> float | None:
        """The database backends' CPU microseconds a row (PostgreSQL)."""
        return None if self.db_cpu is None else 1e6 * self.db_cpu / self.rows

    @property
    def edge(self) -> int:
        """Chunks compared at each end: a tenth of them, at least :data:`EDGE`."""
        return max(1, min(max(EDGE, len(self.chunks) // 10), len(self.chunks) // 2))

    @property
    def flat(self) -> float:
        """Median time of the last chunks over that of the first (1.0: flat); medians, so that
        one chunk slowed by another process on the machine does not decide it."""
        first, last = median(self.chunks[: self.edge]), median(self.chunks[-self.edge :])
        return last / first if first else float("nan")


def batch_issue(root: Path, db_url: str | None, rows: int) -> BatchResult:
    """``ecert issue-batch``'s two passes over a register of ``rows`` distinct licences."""
    root.mkdir(parents=True, exist_ok=True)
    register = write_register(root / "register.csv", rows, 10_000_000)
    marks: list[float] = []

    def chunk_done(_rows: int, _done: int) -> None:
        marks.append(time.perf_counter())

    with local_gateway(root, db_url) as (gw, agency):
        done = {"issued": 0, "skipped": 0}
        # The database's backends: those open now (the setup's), and any the run opens.
        before = {pid: _cpu_of([pid]) for pid in (_pg_backends(db_url) if db_url else [])}
        start, cpu_start = time.perf_counter(), time.process_time()
        children = _children_cpu()
        issue_register(
            gw, file=register, kind="csv", agency=agency, type_="business-licence",
            batch_id="bench", chunk_size=CHUNK, sheet=None, done=done, on_chunk=chunk_done,
        )  # fmt: skip
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        worker_cpu = _children_cpu() - children
        later = _pg_backends(db_url) if db_url else []
        db_cpu = sum(_cpu_of([pid]) - before.get(pid, 0.0) for pid in later)
    if done["issued"] != rows:
        raise SetupError(f"issue-batch issued {done['issued']} of {rows} rows")
    chunks = [b - a for a, b in itertools.pairwise(marks)]
    return BatchResult(
        rows, seconds, marks[0] - start, chunks, cpu, db_cpu if db_url else None, worker_cpu
    )


def _children_cpu() -> float:
    """CPU seconds of this process's children it has waited for (user and system)."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def batch_row(name: str, result: BatchResult, raw_sign: float) -> Row:
    ratio = result.rate / raw_sign
    flat = result.flat
    return Row(
        name,
        result.rate,
        raw_sign,
        ratio,
        f"ratio ≥ {BATCH_RATIO_TARGET}, flat ≤ {FLAT_TARGET}×",
        ratio >= BATCH_RATIO_TARGET and flat <= FLAT_TARGET,
        f"{result.rows:,} rows in {result.seconds:.1f} s (pass 1 {result.first_pass:.1f} s); "
        f"chunks of {CHUNK}: first {result.chunks[0]:.2f} s, last {result.chunks[-1]:.2f} s, "
        f"median of the last {result.edge} / of the first {result.edge} = {flat:.2f}×; "
        f"CPU {result.cpu_us:.0f} µs a row in this process, {result.worker_cpu_us:.0f} µs in the "
        "second signer"
        + ("" if result.db_cpu_us is None else f", {result.db_cpu_us:.0f} µs in PostgreSQL"),
    )


# --- the run ------------------------------------------------------------------------------------


def run(
    scale: float = 1.0,
    *,
    rows: int | None = None,
    pg_url: str | None = None,
    http: bool = True,
    databases: Sequence[str] = ("sqlite", "postgres"),
) -> Report:
    """Every measurement at ``scale``; PostgreSQL ones on a throw-away database of ``pg_url``'s
    server (default ``$ECERT_BENCH_DATABASE_URL``; none: skipped with a note). ``http=False``
    and ``databases`` leave measurements out (a 1M-row register on PostgreSQL alone)."""
    sizes = Sizes.for_scale(scale, rows)
    pg_base = pg_url if pg_url is not None else os.environ.get(BENCH_DB_ENV)  # "": skip
    report = Report(scale)
    started = time.perf_counter()
    log(f"1: raw ES256 sign for {sizes.sign_seconds:.1f} s")
    raw_sign = raw_sign_rate(sizes.sign_seconds)
    report.rows.append(Row(RAW_SIGN, raw_sign, target="baseline"))
    skipped = f"skipped: set {BENCH_DB_ENV} to a PostgreSQL server URL to measure it"
    unreachable = _unreachable(pg_base) if pg_base else None
    if unreachable is not None:
        skipped = f"skipped: cannot connect to {BENCH_DB_ENV}'s server ({unreachable})"
        pg_base = ""
    with tempfile.TemporaryDirectory(prefix="ecert-bench-issue-") as tmp:
        root = Path(tmp)
        log(f"2: HTTP issuance, {CLIENTS} clients for {sizes.http_seconds} s, PostgreSQL")
        if not http or "postgres" not in databases:
            pass
        elif pg_base:
            with throwaway_database(pg_base, "ecert_bench") as url:
                found = http_issue(root / "http-pg", url, sizes.http_seconds)
            report.rows.append(http_row(HTTP_PG, found, raw_sign, p99_target=P99_PG_MS,
                                        per_core_target=PER_CORE_TARGET))  # fmt: skip
        else:
            report.rows.append(Row(HTTP_PG, None, note=skipped))
        log(f"2: HTTP issuance, {CLIENTS} clients for {sizes.http_seconds} s, SQLite")
        if http and "sqlite" in databases:
            found = http_issue(root / "http-sqlite", None, sizes.http_seconds)
            report.rows.append(http_row(HTTP_SQLITE, found, raw_sign, p99_target=P99_SQLITE_MS,
                                        per_core_target=None))  # fmt: skip
        log(f"3: issue-batch, {sizes.batch_rows:,} rows, SQLite")
        if "sqlite" in databases:
            batch = batch_issue(root / "batch-sqlite", None, sizes.batch_rows)
            report.rows.append(batch_row(f"{BATCH_SQLITE} {sizes.batch_rows:,}", batch, raw_sign))
            report.chunks[BATCH_SQLITE] = batch.chunks
        log(f"3: issue-batch, {sizes.batch_rows:,} rows, PostgreSQL")
        if "postgres" not in databases:
            pass
        elif pg_base:
            with throwaway_database(pg_base, "ecert_bench") as url:
                batch = batch_issue(root / "batch-pg", url, sizes.batch_rows)
            report.rows.append(batch_row(f"{BATCH_PG} {sizes.batch_rows:,}", batch, raw_sign))
            report.chunks[BATCH_PG] = batch.chunks
        else:
            report.rows.append(Row(f"{BATCH_PG} {sizes.batch_rows:,}", None, note=skipped))
    report.elapsed = time.perf_counter() - started
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests.bench_issue", description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0, help="shrink or grow every size")
    parser.add_argument("--rows", type=int, default=None, help="register rows (default 20,000)")
    parser.add_argument("--no-http", action="store_true", help="leave the HTTP rows out")
    parser.add_argument(
        "--databases", default="sqlite,postgres", help="comma-separated: sqlite, postgres"
    )
    args = parser.parse_args(argv)
    databases = tuple(d.strip() for d in args.databases.split(",") if d.strip())
    unknown = set(databases) - {"sqlite", "postgres"}
    if unknown:
        parser.error(f"--databases takes sqlite and/or postgres, found {sorted(unknown)}")
    report = run(args.scale, rows=args.rows, http=not args.no_http, databases=databases)
    print(report.format(), flush=True)
    return 0  # the bench reports; a missed target is printed as FAIL, not an exit code


if __name__ == "__main__":
    sys.exit(main())
