"""A city on several processes: ``POST /api/v1/verify`` throughput against ``ecert serve`` on 1
process and on ``--workers N``, beside raw ``cryptography`` ES256 verify measured in the same
run, and a plot of throughput against processes (``docs/throughput-by-processes.png``).

How it measures, and why:

- One city (SQLite, five business licences issued over HTTP) served at once by one server per
  process count, each on its own loopback port: ``ecert serve`` (1 process) and ``ecert serve
  --workers N``. Rate limits and the access log are off (the gateway is measured, not them).
- The load generator is ``wrk`` (Debian's, C, one thread) over :data:`CONNECTIONS` keep-alive
  connections, one request at a time on each (no pipelining), POSTing the licences' QR texts
  in turn. The client competes for the same two cores as the servers, so it is kept as light
  as it can be, the same for every process count:

  - its requests are formatted once, when the script starts (``init``); the script's
    ``request()`` only hands out the next prebuilt one (formatting each request with
    ``wrk.format`` cost the client ~3 µs of its ~15 µs of CPU a request);
  - it runs with the default scheduling policy. ``--client-policy batch`` runs it as a batch
    job instead (``SCHED_BATCH``, ``sched(7)``: an arriving answer does not switch a server
    out; the client reads the answers that arrived meanwhile when a server yields its core).
    Measured interleaved on an otherwise quiet machine, that cut the client's CPU (~0.15 →
    ~0.11 cores at 2 processes) and the servers' involuntary switches (~0.6 → ~0.05 a
    request) but left ~0.1 core idle while servers waited for the client, against ~0.02:
    no gain in throughput, so it is not the default.

  With server CPU *s* and client CPU *w* a request (both measured and printed), two
  saturated processes can at best reach 2·s/(s + w) of one process: the report prints that
  ceiling beside the measured ratio. Client CPU is measured with ``getrusage`` of the
  finished child.
- Rounds are interleaved (1, 2, … processes, then again) so a neighbour's burst on the shared
  machine falls on every count alike; each figure is the median of the rounds. The raw ES256
  verify rate (one core) is measured before every round, and each HTTP rate is also given as
  a ratio to it, per process. So is the raw verify of two processes at once, one pinned to
  each core (:func:`raw_verify_both_cores`): what the two cores themselves give against one,
  the scaling no server can beat on this machine.
- Before the load, how connections spread: :data:`CONNECTIONS` connections opened at once,
  :data:`SPREAD_RUNS` times, on ``uvicorn --workers 2`` (one socket both processes accept
  from: the process that wakes first takes what is queued) and on ``ecert serve --workers 2``
  (a socket a process, the kernel hashing each connection to one).
- The servers' CPU time (every process of each, ``/proc``) per request is printed beside the
  rates: when neighbours hold the cores, throughput cannot show the scaling, and the CPU
  cost says whether the processes themselves cost more per request.
- Beside them, what the rest of the machine did meanwhile (``/proc/stat``): the cores other
  work used (the machine's busy time less the server's and the client's) and the cores left
  idle. On a machine shared with other work, 2 processes fall short of 2× by the cores others
  took; idle cores would mean the servers waited for the client.
- Any non-2xx answer, socket error or timeout counted by ``wrk`` is reported; a round with any
  is marked. The answers are checked VALID before the load starts.

The target (issue 13): 2 processes ≥ :data:`TARGET` × 1 process, measured on both cores.
Run with ``python -m loadtests.bench_procs`` (``--scale 0.01`` for a smoke run).
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import queue
import re
import resource
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from loadtests.common import (
    LOOPBACK,
    REPO,
    SetupError,
    child_env,
    cpu_seconds,
    ecert_bin,
    free_port,
    licence_subject,
    median,
    prepare_data_dir,
    served,
    stop,
)

TARGET = 1.8  # 2 processes against 1 (issue 13)
CONNECTIONS = 32  # wrk's connections: enough that the kernel's hash gives every worker a share
PROCESSES = (1, 2, 3, 4)
WRK = "/usr/bin/wrk"  # Debian's package
SHARED = "uvicorn --workers 2 (one shared socket)"
REUSEPORT = "ecert serve --workers 2 (SO_REUSEPORT)"
SPREAD_RUNS = 10
PLOT = REPO / "docs" / "throughput-by-processes.png"
_READY = 60.0  # seconds for a server to say it started
_WRK_RATE = re.compile(r"^Requests/sec:\s+([0-9.]+)", re.MULTILINE)
_WRK_ERRORS = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)|Socket errors:(.*)$", re.MULTILINE)
_LUA = """\
-- Every request formatted once (init), then handed out in turn: no formatting a request.
local bodies = {%s}
local requests = {}
local i = 0
init = function(args)
  for k, body in ipairs(bodies) do
    requests[k] = wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
  end
end
request = function()
  i = i %% #requests + 1
  return requests[i]
end
"""
CLIENT_POLICIES = ("normal", "batch")  # the client's scheduling policy (see the docstring)


@dataclass
class Round:
    processes: int
    rate: float  # verify/s
    client_cores: float  # wrk's CPU seconds per second of load
    errors: str  # "" when none
    server_cpu_us: float  # the server's CPU time (all its processes) per request, µs
    # Cores the rest of the machine used meanwhile (/proc/stat less the server and the client),
    # and cores left idle: busy neighbours, not the gateway, when 2 processes fall short of 2×.
    other_cores: float = 0.0
    idle_cores: float = 0.0

    @property
    def client_cpu_us(self) -> float:
        """The client's CPU time per request, µs."""
        return 1e6 * self.client_cores / self.rate if self.rate > 0 else 0.0


@dataclass
class ProcsReport:
    seconds: float
    client_policy: str = CLIENT_POLICIES[0]
    rounds: list[Round] = field(default_factory=list)
    raw: list[float] = field(default_factory=list)  # raw ES256 verify/s, one core, per round
    # raw ES256 verify/s of two processes at once, one on each core, summed, per round
    raw_both: list[float] = field(default_factory=list)
    load_before: tuple[float, float, float] = (0.0, 0.0, 0.0)
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)
    # connections opened at once, split between two processes, per run, per way of serving
    spread: dict[str, list[list[int]]] = field(default_factory=dict)

    def processes(self) -> list[int]:
        return sorted({r.processes for r in self.rounds})

    def rate(self, processes: int) -> float:
        return median([r.rate for r in self.rounds if r.processes == processes])

    def server_cpu_us(self, processes: int) -> float:
        return median([r.server_cpu_us for r in self.rounds if r.processes == processes])

    def client_cores(self, processes: int) -> float:
        return median([r.client_cores for r in self.rounds if r.processes == processes])

    def client_cpu_us(self, processes: int) -> float:
        return median([r.client_cpu_us for r in self.rounds if r.processes == processes])

    def other_cores(self, processes: int) -> float:
        return median([r.other_cores for r in self.rounds if r.processes == processes])

    def idle_cores(self, processes: int) -> float:
        return median([r.idle_cores for r in self.rounds if r.processes == processes])

    @property
    def ceiling(self) -> float:
        """The most 2 saturated processes can give against 1 with this client on the same two
        cores: 2·s/(s + w), s the server's CPU a request on 1 process, w the client's on 2."""
        one = self.server_cpu_us(1)
        return 2 * one / (one + self.client_cpu_us(2)) if one > 0 else 0.0

    @property
    def raw_verify(self) -> float:
        return median(self.raw)

    @property
    def raw_scaling(self) -> float:
        """What the two cores give together against one, for the raw verify alone: the
        machine's own scaling, which no server can beat (0.0: not measured)."""
        if not self.raw_both or not self.raw:
            return 0.0
        return median(self.raw_both) / self.raw_verify

    @property
    def ratio(self) -> float:
        """2 processes against 1 (the issue's figure)."""
        return self.rate(2) / self.rate(1)

    @property
    def passed(self) -> bool:
        return self.ratio >= TARGET and not any(r.errors for r in self.rounds)


def machine_ticks() -> tuple[int, int]:
    """(busy, idle) clock ticks of every CPU so far (``/proc/stat``; idle counts I/O wait)."""
    with open("/proc/stat", encoding="ascii") as stat:
        ticks = [int(t) for t in stat.readline().split()[1:]]
    idle = ticks[3] + ticks[4]
    return sum(ticks[:8]) - idle, idle


def raw_verify_rate(seconds: float) -> float:
    """Raw ES256 verifies a second on one core (``cryptography``, DER), over ``seconds``."""
    private = ec.generate_private_key(ec.SECP256R1())
    public, algorithm = private.public_key(), ec.ECDSA(hashes.SHA256())
    data = b"eyJhbGciOiJFUzI1NiJ9." + b"x" * 300
    der = private.sign(data, algorithm)
    done, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(50):
            public.verify(der, data, algorithm)
        done += 50
    return done / elapsed


def raw_verify_both_cores(seconds: float) -> float:
    """Raw ES256 verifies a second of two processes verifying at once, each pinned to one of two
    CPUs, summed (0.0 on a machine with one CPU). Started together at a barrier; each times
    itself by the wall clock as :func:`raw_verify_rate` does."""
    cpus = sorted(os.sched_getaffinity(0))[:2]
    if len(cpus) < 2:
        return 0.0
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no state of this one
    start = context.Barrier(len(cpus))
    results: Any = context.Queue()
    workers = [
        context.Process(target=_raw_on_cpu, args=(cpu, seconds, start, results), daemon=True)
        for cpu in cpus
    ]
    for worker in workers:
        worker.start()
    rates: list[float] = []
    deadline = time.monotonic() + seconds + 60
    try:
        while len(rates) < len(workers):
            try:
                rates.append(float(results.get(timeout=1.0)))
            except queue.Empty:
                if time.monotonic() > deadline or not all(w.is_alive() for w in workers):
                    codes = [w.exitcode for w in workers]
                    raise SetupError(f"raw verify on two cores: workers ended {codes}") from None
        return sum(rates)
    finally:
        for worker in workers:
            worker.join(timeout=10)
            if worker.is_alive():
                worker.kill()
                worker.join(timeout=10)


def _raw_on_cpu(cpu: int, seconds: float, start: Any, results: Any) -> None:
    os.sched_setaffinity(0, {cpu})
    start.wait(timeout=60)
    results.put(raw_verify_rate(seconds))


@dataclass(frozen=True)
class _Server:
    url: str
    pid: int

    def cpu_seconds(self) -> float:
        """User + system CPU time so far of the server and every process under it (its workers)."""
        return cpu_seconds(self.pid) or 0.0


@contextmanager
def _served(data_dir: Path, processes: int, log: Path) -> Iterator[_Server]:
    """``ecert serve`` (``--workers N`` past one) on a free loopback port; its URL once it says
    it started; stopped on exit."""
    workers = ["--workers", str(processes)] if processes > 1 else []
    env = child_env(ECERT_ACCESS_LOG="off", ECERT_FEDERATION_SYNC="false")
    with served(["--data-dir", str(data_dir), *workers], env, log) as (url, pid):
        yield _Server(url, pid)


def _as_batch_job() -> None:
    """In the client's process before it runs ``wrk`` (its threads inherit it): ``SCHED_BATCH``."""
    os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))


def _wrk(
    url: str, script: Path, seconds: float, connections: int, policy: str = CLIENT_POLICIES[0]
) -> tuple[float, float, str]:
    """``wrk`` against ``url`` as ``policy`` (:data:`CLIENT_POLICIES`): (requests/s, the
    client's CPU cores used, errors or "")."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter()
    done = subprocess.run(  # noqa: S603 - Debian's wrk, fixed arguments
        [WRK, "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
         "-s", str(script), f"{url}/api/v1/verify"],
        capture_output=True, text=True, timeout=seconds + 60, check=False,
        preexec_fn=_as_batch_job if policy == "batch" else None,
    )  # fmt: skip
    wall = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    rate = _WRK_RATE.search(done.stdout)
    if done.returncode != 0 or rate is None:
        raise SetupError(f"wrk exited {done.returncode}: {done.stdout}{done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    errors = "; ".join(m.group(0).strip() for m in _WRK_ERRORS.finditer(done.stdout))
    return float(rate.group(1)), cpu / wall, errors


def run(
    scale: float = 1.0,
    *,
    processes: Sequence[int] = PROCESSES,
    plot: Path | None = PLOT,
    client_policy: str = CLIENT_POLICIES[0],
) -> ProcsReport:
    """Measure; write the plot to ``plot`` (``None``: no plot). ``scale`` shrinks the rounds
    and their length (the smoke test runs 0.01); ``client_policy``: :data:`CLIENT_POLICIES`."""
    if client_policy not in CLIENT_POLICIES:
        raise ValueError(f"client policy must be one of {CLIENT_POLICIES}, found {client_policy!r}")
    if shutil.which(WRK) is None:
        raise SetupError(f"{WRK} is not installed: apt-get install -y wrk")
    seconds = max(1.0, 5.0 * scale)
    rounds = max(1, round(3 * scale))
    report = ProcsReport(seconds=seconds, client_policy=client_policy, load_before=os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="ecert-bench-procs-") as tmp, ExitStack() as stack:
        root = Path(tmp)
        data_dir = root / "data"
        _, api_key = prepare_data_dir(data_dir)
        servers = {n: stack.enter_context(_served(data_dir, n, root / f"serve-{n}.log"))
                   for n in processes}  # fmt: skip
        urls = {n: server.url for n, server in servers.items()}
        with httpx.Client(base_url=urls[processes[0]], timeout=10.0) as client:
            texts = [_issue(client, api_key, n) for n in range(5)]
            for url in urls.values():
                for text in texts * 2:  # the answer checked, and each server warmed up
                    answer = client.post(f"{url}/api/v1/verify", json={"qr": text})
                    if answer.status_code != 200 or not answer.json()["valid"]:
                        raise SetupError(f"verify on {url}: {answer.status_code} {answer.text}")
        script = root / "verify.lua"
        bodies = ",".join('"' + '{\\"qr\\": \\"' + t + '\\"}"' for t in texts)
        script.write_text(_LUA % bodies, encoding="utf-8")
        report.spread = spread(data_dir, root, runs=max(1, round(SPREAD_RUNS * scale)),
                               connections=CONNECTIONS)  # fmt: skip
        for _ in range(rounds):
            raw_seconds = min(2.0, seconds / 2.5)  # 1 s at a time gave the pair 1.55–2.0×
            report.raw.append(raw_verify_rate(raw_seconds))
            report.raw_both.append(raw_verify_both_cores(raw_seconds))
            for n in processes:
                cpu, ticks, wall = servers[n].cpu_seconds(), machine_ticks(), time.perf_counter()
                rate, cores, errors = _wrk(urls[n], script, seconds, CONNECTIONS, client_policy)
                wall = time.perf_counter() - wall
                used = servers[n].cpu_seconds() - cpu
                busy, idle = (b - a for a, b in zip(ticks, machine_ticks(), strict=True))
                cpus = (os.cpu_count() or 1) / max(1, busy + idle)
                others = max(0.0, busy * cpus - used / wall - cores)
                each = 1e6 * used / max(1.0, rate * seconds)
                report.rounds.append(Round(n, rate, cores, errors, each, others, idle * cpus))
    report.load_after = os.getloadavg()
    if plot is not None:
        write_plot(report, plot)
    return report


def _issue(client: httpx.Client, api_key: str, n: int) -> str:
    """One business licence issued over HTTP; its QR text."""
    body = {"type": "business-licence", "subject": licence_subject(n)}
    answer = client.post(
        "/api/v1/credentials", headers={"Authorization": f"Bearer {api_key}"}, json=body
    )
    if answer.status_code != 201:
        raise SetupError(f"issue answered {answer.status_code}: {answer.text[:500]}")
    return str(answer.json()["qr_text"])


def shared_socket_app() -> Any:
    """The city of ``ECERT_DATA_DIR`` as an app factory, for ``uvicorn --workers 2 --factory``:
    the one-shared-socket way of running several processes that :func:`spread` compares."""
    from cli.common import open_gateway
    from gateway.app import create_app

    return create_app(open_gateway(Path(os.environ["ECERT_DATA_DIR"])))


@contextmanager
def _uvicorn_shared(data_dir: Path, log: Path) -> Iterator[str]:
    """``uvicorn --workers 2`` (one listening socket, both processes accepting from it)."""
    port = free_port()
    uvicorn = Path(ecert_bin()).with_name("uvicorn")
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - the environment's uvicorn, fixed arguments
            [str(uvicorn), "--factory", "loadtests.bench_procs:shared_socket_app", "--workers",
             "2", "--host", LOOPBACK, "--port", str(port), "--no-access-log"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=REPO,
            env=child_env(ECERT_DATA_DIR=str(data_dir), ECERT_ACCESS_LOG="off",
                          ECERT_FEDERATION_SYNC="false"),
        )  # fmt: skip
    try:
        deadline = time.monotonic() + _READY
        while log.read_text(encoding="utf-8", errors="replace").count("startup complete") < 2:
            if process.poll() is not None or time.monotonic() > deadline:
                said = log.read_text(encoding="utf-8", errors="replace")[-3000:]
                raise SetupError(f"uvicorn --workers 2 did not start:\n{said}")
            time.sleep(0.1)
        yield f"http://{LOOPBACK}:{port}"
    finally:
        stop(process)


@contextmanager
def _served_url(data_dir: Path, processes: int, log: Path) -> Iterator[str]:
    with _served(data_dir, processes, log) as server:
        yield server.url


def _split(url: str, connections: int) -> list[int]:
    """Open ``connections`` connections at once (as a load generator does), then ask each which
    process answers it; how many each process got, largest first."""
    host, port = url.removeprefix("http://").split(":")
    opened = [http.client.HTTPConnection(host, int(port), timeout=10) for _ in range(connections)]
    try:
        for conn in opened:
            conn.connect()
        pids = []
        for conn in opened:
            conn.request("GET", "/healthz")
            pids.append(json.loads(conn.getresponse().read())["process"]["pid"])
    finally:
        for conn in opened:
            conn.close()
    return sorted(Counter(pids).values(), reverse=True)


def spread(
    data_dir: Path, root: Path, *, runs: int, connections: int
) -> dict[str, list[list[int]]]:
    """How ``connections`` connections opened at once fall on two processes, ``runs`` times:
    ``uvicorn --workers 2`` (one shared socket) against ``ecert serve --workers 2``
    (``SO_REUSEPORT``)."""
    found: dict[str, list[list[int]]] = {}
    ways: dict[str, Callable[[], AbstractContextManager[str]]] = {
        SHARED: lambda: _uvicorn_shared(data_dir, root / "uvicorn-shared.log"),
        REUSEPORT: lambda: _served_url(data_dir, 2, root / "serve-spread.log"),
    }
    for name, serving in ways.items():
        with serving() as url:
            found[name] = []
            for _ in range(runs):
                found[name].append(_split(url, connections))
                time.sleep(0.2)  # the previous run's connections closed on both sides
    return found


def write_plot(report: ProcsReport, path: Path) -> None:
    """Throughput against processes: measured, and one process's rate times the processes
    (perfect scaling) up to the machine's cores."""
    import matplotlib  # a dev dependency, loaded for the plot only

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    counts = report.processes()
    rates = [report.rate(n) for n in counts]
    cores = os.cpu_count() or 1
    ideal = [report.rate(1) * min(n, cores) for n in counts]
    figure, axes = plt.subplots(figsize=(6.4, 4.0), dpi=100)
    axes.plot(counts, ideal, linestyle="--", color="grey",
              label=f"1 process × processes (up to {cores} cores)")  # fmt: skip
    axes.plot(counts, rates, marker="o", label="POST /api/v1/verify, measured (wrk)")
    for n, rate in zip(counts, rates, strict=True):
        label = f"{rate:,.0f}/s\n×{rate / rates[0]:.2f}"
        axes.annotate(label, (n, rate), textcoords="offset points", xytext=(0, 8),
                      ha="center", fontsize=8)  # fmt: skip
    axes.set_xticks(counts)
    axes.set_xlim(counts[0] - 0.5, counts[-1] + 0.5)
    axes.set_xlabel("gateway processes (ecert serve --workers N)")
    axes.set_ylabel("verifies per second")
    axes.set_ylim(0, max(rates + ideal) * 1.3)
    load = f"{report.load_before[0]:.1f}–{report.load_after[0]:.1f}"
    axes.set_title(f"One city on N processes, {cores} cores\nraw ES256 verify "
                   f"{report.raw_verify:,.0f}/s per core; load average {load}",
                   fontsize=9)  # fmt: skip
    axes.legend(loc="lower right", fontsize=8)
    axes.grid(alpha=0.3)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)


def format_report(report: ProcsReport) -> str:
    raw = report.raw_verify
    lines = [
        f"HTTP verify by processes (wrk, 1 thread, {CONNECTIONS} connections, client "
        f"{'SCHED_BATCH' if report.client_policy == 'batch' else 'SCHED_OTHER'}, "
        f"{report.seconds:.0f} s × {len(report.rounds) // max(1, len(report.processes()))} "
        "interleaved rounds, medians)",
        f"  raw ES256 verify (cryptography, 1 core): {raw:,.0f}/s",
        f"  raw ES256 verify, 2 processes at once, one on each core: "
        f"{median(report.raw_both) if report.raw_both else 0:,.0f}/s, "
        f"{report.raw_scaling:.2f}× one core (what the cores themselves give)",
        f"  {'processes':>9} {'verify/s':>10} {'vs 1':>6} {'per process / raw':>18} "
        f"{'server CPU µs/req':>18} {'client cores':>13} {'client µs/req':>14} "
        f"{'others cores':>13} {'idle cores':>11}",
    ]
    one = report.rate(1)
    for n in report.processes():
        rate = report.rate(n)
        cpu, client = report.server_cpu_us(n), report.client_cores(n)
        lines.append(f"  {n:>9} {rate:>10,.0f} {rate / one:>6.2f} {rate / n / raw:>18.3f} "
                     f"{cpu:>18.0f} {client:>13.2f} "
                     f"{report.client_cpu_us(n):>14.1f} {report.other_cores(n):>13.2f} "
                     f"{report.idle_cores(n):>11.2f}")  # fmt: skip
    verdict = "PASS" if report.passed else "FAIL"
    lines.append(f"  2 processes / 1 process: {report.ratio:.2f} (target ≥ {TARGET}) {verdict}")
    lines.append(f"  the most 2 processes can give with this client on the same cores, "
                 f"2·s/(s + w): {report.ceiling:.2f}")  # fmt: skip
    # A request's CPU cost on 2 processes against 1: near 1 when the processes add no work of
    # their own. Measured on busy cores it rises (fewer requests per wake-up of each loop).
    one_cpu = report.server_cpu_us(1)
    if one_cpu > 0:
        cost = report.server_cpu_us(2) / one_cpu
        lines.append(f"  CPU per request, 2 processes / 1: {cost:.2f}")
    errors = [f"{r.processes}: {r.errors}" for r in report.rounds if r.errors]
    if errors:
        lines.append(f"  errors seen by wrk: {'; '.join(errors)}")
    for name, runs in report.spread.items():
        one_took_all = sum(1 for split in runs if len(split) == 1)
        shown = " ".join("/".join(map(str, split)) for split in runs)
        lines.append(f"  {CONNECTIONS} connections on 2 processes, {name}: {shown} "
                     f"(one process took all in {one_took_all} of {len(runs)} runs)")  # fmt: skip
    lines.append(f"  load average before {report.load_before[0]:.2f}, after "
                 f"{report.load_after[0]:.2f} (1 min)")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--processes", default=",".join(map(str, PROCESSES)))
    parser.add_argument("--plot", type=Path, default=PLOT)
    parser.add_argument(
        "--client-policy",
        choices=CLIENT_POLICIES,
        default=CLIENT_POLICIES[0],
        help="the client's scheduling policy: the default (normal) or SCHED_BATCH (batch)",
    )
    args = parser.parse_args(argv)
    counts = sorted({int(n) for n in args.processes.split(",")} | {1, 2})
    report = run(args.scale, processes=counts, plot=args.plot, client_policy=args.client_policy)
    print(format_report(report))
    print(f"  plot: {args.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
