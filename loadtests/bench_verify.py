"""HTTP verify beside raw ES256 verify, per core (issue 13): rows for ``make bench``.

Measures in one run, in rounds: for each HTTP case a slice of raw verifies, the case under
``wrk``, another slice of raw verifies; the case's ratio that round is against the two slices
around it, and each row reports the median of its per-round ratios:

- raw ES256 verify: ``cryptography``, DER signatures over the same signing inputs, in this
  process, one thread pinned to the servers' core while they are idle;
- single-QR ``POST /api/v1/verify`` against a real ``ecert serve`` subprocess, access log off
  (``ECERT_ACCESS_LOG=off``) and, on a second server, on (JSON lines to its log file);
- ``POST /api/v1/verify/batch`` QRs (``BATCH_SIZE`` texts a request), access log off.

"Per core": every server process is pinned to one CPU (``sched_setaffinity`` on each of its
threads and child processes) and the load generator, ``wrk`` (a C client, one thread,
keep-alive connections, a Lua script cycling through real QR texts), to another, so the client
neither shares the server's core nor is the bottleneck: its own CPU use is reported beside each
rate. A rate "a core" is what one CPU-second does: QRs answered over the server's CPU seconds
(user + system, from ``/proc``), raw verifies over the verifying thread's CPU seconds. On a
machine shared with other work the wall-clock rates measure each process's share of the core
as much as its speed (a server with more threads gets more of a contended core); CPU seconds do
not, so the ratios are judged on them, and the wall-clock ratios are printed beside. Rate
limits are off in the servers (they measure the gateway, not its budgets). Without ``wrk`` or a
second CPU the rows say so and are not judged.

Deliberately not here: the library rows and the rest of ``make bench`` (:mod:`loadtests.bench`,
whose row and report types this reuses).
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from loadtests.bench import Report, Row, format_report
from loadtests.common import (
    GatewayServer,
    child_pids,
    cpu_seconds,
    issue_http,
    licence_subject,
    median,
    running_gateway,
    token_of,
)

SINGLE_TARGET = 0.40
BATCH_TARGET = 0.75
BATCH_SIZE = 64
CONNECTIONS = 16  # wrk's keep-alive connections: enough to keep one server process busy
TEXTS = 16  # distinct licences the requests cycle through

RAW = "raw ES256 verify, 1 core (cryptography)"
SINGLE = "HTTP verify, 1 core, access log off"
SINGLE_LOGGED = "HTTP verify, 1 core, access log on"
BATCH = f"HTTP verify/batch ×{BATCH_SIZE}, QRs, 1 core"
ROW_NAMES = (RAW, SINGLE, SINGLE_LOGGED, BATCH)

_RATE = re.compile(r"Requests/sec:\s+([0-9.]+)")
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_SOCKET_ERRORS = re.compile(r"Socket errors:.*?(\d+).*?(\d+).*?(\d+).*?(\d+)")


def log(message: str) -> None:
    print(f"[bench-verify] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Sizes:
    rounds: int
    raw_seconds: float
    http_seconds: int  # wrk takes whole seconds

    @classmethod
    def for_scale(cls, scale: float) -> Sizes:
        if not 0 < scale <= 10:
            raise ValueError(f"scale must be in (0, 10], found {scale}")
        return cls(
            rounds=max(1, min(9, round(5 * scale))),
            raw_seconds=max(0.2, 1.0 * min(scale, 1.0)),
            http_seconds=max(1, round(2 * min(scale, 1.0))),
        )


# --- placing processes on cores ---------------------------------------------------------------


def cores() -> tuple[int, int] | None:
    """(the servers' core, the client's core), or None with fewer than two CPUs to use."""
    usable = sorted(os.sched_getaffinity(0))
    return (usable[0], usable[1]) if len(usable) >= 2 else None


def pin_process(pid: int, core: int) -> None:
    """Every thread of ``pid`` and of its child processes onto ``core`` (threads and processes
    started later inherit it)."""
    for child in child_pids(pid):
        pin_process(child, core)
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:  # ended meanwhile
        return
    for task in tasks:
        try:
            os.sched_setaffinity(int(task.name), {core})
        except (ProcessLookupError, OSError):  # a thread that ended meanwhile
            continue


@contextmanager
def pinned_here(core: int | None) -> Iterator[None]:
    """This thread on ``core`` for the block (the raw baseline runs where the servers run)."""
    if core is None:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {core})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


# --- the raw baseline -------------------------------------------------------------------------


def raw_verifier(tokens: list[str]) -> Callable[[], None]:
    """One raw ES256 verify a call, over the tokens' own signing inputs signed by a fresh key."""
    private = ec.generate_private_key(ec.SECP256R1())
    public = private.public_key()
    algorithm = ec.ECDSA(hashes.SHA256())
    signed = []
    for token in tokens:
        data = token.rsplit(".", 1)[0].encode("ascii")
        signed.append((private.sign(data, algorithm), data))
    at = 0

    def verify() -> None:
        nonlocal at
        der, data = signed[at]
        at = (at + 1) % len(signed)
        public.verify(der, data, algorithm)

    return verify


# --- wrk --------------------------------------------------------------------------------------


@dataclass
class WrkResult:
    requests_per_s: float
    errors: int  # non-2xx answers and socket errors
    client_cpu_s: float
    seconds: float


def lua_script(path: str, bodies: list[bytes]) -> str:
    """A wrk script POSTing ``bodies`` in turn as JSON to ``path``."""
    for body in bodies:
        if b"]==]" in body:
            raise ValueError("a body holds the Lua long-string closer")
    items = ",\n".join(f"[==[{b.decode()}]==]" for b in bodies)
    return (
        f"local bodies = {{\n{items}\n}}\nlocal at = 0\n"
        'local headers = {["Content-Type"] = "application/json"}\n'
        "request = function()\n  at = at % #bodies + 1\n"
        f'  return wrk.format("POST", "{path}", headers, bodies[at])\nend\n'
    )


def run_wrk(url: str, script: Path, seconds: int, core: int | None) -> WrkResult:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is not installed (apt-get install wrk)")
    cmd = [wrk, "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "--timeout", "5s", "-s", str(script)]
    if core is not None:
        cmd = ["taskset", "-c", str(core), *cmd]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(  # noqa: S603 - wrk on a loopback URL, fixed arguments
        [*cmd, url], capture_output=True, text=True, timeout=seconds + 30, check=False
    )
    took = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    rate = _RATE.search(done.stdout)
    if done.returncode != 0 or rate is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout} {done.stderr}")
    errors = sum(int(n) for n in _NON_2XX.findall(done.stdout))
    socket = _SOCKET_ERRORS.search(done.stdout)
    if socket is not None:
        errors += sum(int(n) for n in socket.groups())
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return WrkResult(float(rate.group(1)), errors, cpu, took)


# --- the run ----------------------------------------------------------------------------------


@dataclass
class Case:
    name: str
    server: GatewayServer
    per_request: int  # QRs a request
    script: Path
    cpu_ratios: list[float] = field(default_factory=list)  # judged: per core
    wall_ratios: list[float] = field(default_factory=list)
    per_core: list[float] = field(default_factory=list)  # QRs a CPU-second of the server
    wall_rates: list[float] = field(default_factory=list)
    errors: int = 0
    client_cpu: float = 0.0  # wrk's CPU seconds, summed over rounds
    wall: float = 0.0
    server_cpu: float = 0.0
    requests: float = 0.0


def _check_answers(server: GatewayServer, texts: list[str]) -> None:
    with httpx.Client(base_url=server.base_url, timeout=10.0) as client:
        for text in texts:
            one = client.post("/api/v1/verify", json={"qr": text})
            if one.status_code != 200 or one.json()["reason"] != "VALID":
                raise RuntimeError(f"warm-up verify failed: {one.status_code} {one.text[:300]}")
        many = client.post("/api/v1/verify/batch", json={"qrs": texts[:BATCH_SIZE]})
        reasons = {r["reason"] for r in many.json().get("results", [])}
        if many.status_code != 200 or reasons != {"VALID"}:
            raise RuntimeError(f"warm-up batch failed: {many.status_code} {many.text[:300]}")


def _texts(server: GatewayServer) -> list[str]:
    with httpx.Client(base_url=server.base_url, timeout=30.0) as client:
        issued = [issue_http(client, server, licence_subject(n)) for n in range(TEXTS)]
    return [str(answer["qr_text"]) for answer in issued]


@dataclass
class RawSlice:
    calls: int
    wall: float
    cpu: float  # this thread's CPU seconds


def raw_slice(fn: Callable[[], None], seconds: float, core: int | None) -> RawSlice:
    """Raw verifies on ``core`` for ``seconds``: how many, in how long, for how much CPU."""
    with pinned_here(core):
        calls = 0
        wall0, cpu0 = time.perf_counter(), time.thread_time()
        deadline = wall0 + seconds
        while True:
            for _ in range(20):
                fn()
            calls += 20
            now = time.perf_counter()
            if now >= deadline:
                return RawSlice(calls, now - wall0, time.thread_time() - cpu0)


def rows(scale: float = 1.0) -> list[Row]:
    """The four rows, measured in one run at ``scale`` (1.0: about a minute)."""
    sizes = Sizes.for_scale(scale)
    placed = cores()
    server_core, client_core = placed if placed is not None else (None, None)
    wrk_here = shutil.which("wrk") is not None
    with tempfile.TemporaryDirectory(prefix="ecert-bench-verify-") as tmp, ExitStack() as stack:
        root = Path(tmp)
        (root / "quiet").mkdir()
        (root / "logged").mkdir()
        quiet = stack.enter_context(
            running_gateway(root / "quiet", env={"ECERT_ACCESS_LOG": "off"})
        )
        logged = stack.enter_context(
            running_gateway(root / "logged", env={"ECERT_ACCESS_LOG": "json"})
        )
        texts = _texts(quiet)
        logged_texts = _texts(logged)
        for server, mine in ((quiet, texts), (logged, logged_texts)):
            _check_answers(server, mine)
            if server_core is not None:
                pin_process(server.process.pid, server_core)
        batch_bodies = [
            orjson.dumps({"qrs": [texts[(start + i) % len(texts)] for i in range(BATCH_SIZE)]})
            for start in range(4)
        ]
        cases: list[Case] = []
        for name, server, path, bodies, per in (
            (SINGLE, quiet, "/api/v1/verify", [orjson.dumps({"qr": t}) for t in texts], 1),
            (SINGLE_LOGGED, logged, "/api/v1/verify",
             [orjson.dumps({"qr": t}) for t in logged_texts], 1),
            (BATCH, quiet, "/api/v1/verify/batch", batch_bodies, BATCH_SIZE),
        ):  # fmt: skip
            script = root / f"{len(cases)}.lua"
            script.write_text(lua_script(path, bodies), encoding="utf-8")
            cases.append(Case(name, server, per, script))
        raw = raw_verifier([token_of(t) for t in texts])
        raw_slice(raw, sizes.raw_seconds / 4, server_core)  # warm-up
        raw_wall: list[float] = []
        raw_cpu: list[float] = []
        if not wrk_here:
            log("wrk not found: the HTTP rows are not measured")
        for n in range(sizes.rounds):
            line = []
            for case in cases if wrk_here else [None]:
                before = raw_slice(raw, sizes.raw_seconds / 2, server_core)
                if case is not None:
                    pid = case.server.process.pid
                    cpu0 = cpu_seconds(pid) or 0.0
                    got = run_wrk(
                        case.server.base_url, case.script, sizes.http_seconds, client_core
                    )
                    used = (cpu_seconds(pid) or cpu0) - cpu0
                after = raw_slice(raw, sizes.raw_seconds / 2, server_core)
                wall = (before.calls + after.calls) / (before.wall + after.wall)
                per_cpu = (before.calls + after.calls) / max(before.cpu + after.cpu, 1e-9)
                raw_wall.append(wall)
                raw_cpu.append(per_cpu)
                if case is None:
                    continue
                qrs = got.requests_per_s * got.seconds * case.per_request
                case.wall_rates.append(got.requests_per_s * case.per_request)
                case.wall_ratios.append(case.wall_rates[-1] / wall)
                case.per_core.append(qrs / max(used, 1e-9))
                case.cpu_ratios.append(case.per_core[-1] / per_cpu)
                case.errors += got.errors
                case.client_cpu += got.client_cpu_s
                case.wall += got.seconds
                case.server_cpu += used
                case.requests += got.requests_per_s * got.seconds
                line.append(
                    f"{case.name}: {case.per_core[-1]:,.0f}/s a core "
                    f"({case.cpu_ratios[-1]:.2f} of raw; wall {case.wall_ratios[-1]:.2f})"
                )
            log(f"round {n + 1}/{sizes.rounds}: raw {median(raw_cpu):,.0f}/s a core; "
                + "; ".join(line))  # fmt: skip
    raw_rate = median(raw_cpu)
    out = [
        Row(
            RAW,
            raw_rate,
            target="baseline",
            note=f"verifies a CPU-second of one thread pinned to CPU {server_core} (the "
            f"servers' core) between the HTTP runs; by the wall clock {median(raw_wall):,.0f}/s",
        )
    ]
    for case in cases:
        if not case.cpu_ratios:
            out.append(Row(case.name, 0.0, raw_rate, "verify", None, "-", None, "wrk missing"))
            continue
        target = BATCH_TARGET if case.per_request > 1 else SINGLE_TARGET
        ratio = median(case.cpu_ratios)
        judged = placed is not None and case.name != SINGLE_LOGGED
        cpu_each = 1e6 * case.server_cpu / max(case.requests, 1.0)
        note = (
            f"per-round ratios {', '.join(f'{r:.2f}' for r in case.cpu_ratios)} (QRs a "
            f"CPU-second of the server over raw verifies a CPU-second); by the wall clock "
            f"{median(case.wall_rates):,.0f}/s, ratio {median(case.wall_ratios):.2f}; "
            f"{case.errors} errors; {cpu_each:,.0f} µs of server CPU a request "
            f"({case.per_request} QR{'s' if case.per_request > 1 else ''}); wrk on CPU "
            f"{client_core} used {100 * case.client_cpu / max(case.wall, 1e-9):.0f}% of it"
        )
        if placed is None:
            note += "; one CPU only: client and server shared it (not judged)"
        out.append(
            Row(
                case.name,
                median(case.per_core),
                raw_rate,
                "verify",
                ratio,
                f"ratio ≥ {target}" if judged else "info",
                (ratio >= target and case.errors == 0) if judged else None,
                note,
            )
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests.bench_verify", description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0, help="shrink or grow every size")
    args = parser.parse_args(argv)
    if not args.scale > 0:
        parser.error(f"--scale must be above 0, found {args.scale}")
    started = time.perf_counter()
    report = Report(scale=args.scale, rows=rows(args.scale))
    report.elapsed = time.perf_counter() - started
    print(format_report(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
