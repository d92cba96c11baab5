"""``make load``: the locust mix against a throw-away gateway on a free loopback port.

Creates a temp data dir, runs ``ecert init`` and ``ecert agency add --json``, starts
``ecert serve``, runs ``locust`` headless (``loadtests/locustfile.py``) for a bounded time, then
prints requests/s, failures and p50/p95/p99 per request type and in total, then the server's
exceptions (one of each kind), if any. The server and locust are stopped and the data dir removed on
every exit path (normal end, failure, Ctrl-C, SIGTERM).

``--mix public`` adds the public GETs under a concurrent issuance load: the gateway is also its
region's trust anchor (on its loopback URL), an agency issues back to back and readers fetch
the public documents (see ``loadtests/locustfile.py``); the table then has a ``GET public …``
row per document and ``GET public (all)`` for all of them. ``--host URL`` (with ``--api-key``
or ``ECERT_LOAD_API_KEY``) drives a gateway already running instead of starting one, e.g. an
older build to compare with; for ``--mix public`` it must be set up as ``make load`` sets up
its own (``loadtests.common.running_gateway``).

``--cluster N`` (what ``make load`` runs, with ``--mix cluster``) starts the city on N gateway
processes behind HAProxy instead (:mod:`cli.cluster_procs`), on a throw-away PostgreSQL database
made on the server of ``--database-url`` (default ``ECERT_LOAD_DATABASE_URL``, else
``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``) and dropped at the end; processes
look for each other's writes every 0.2 s. ``--cluster 0`` (the default of this module) is the
single gateway above.

Exit status: 0 when the failure ratio is at most ``--max-failure-ratio`` (default 1%), 1 when it
is higher or nothing was measured, 2 when the run could not be set up, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from loadtests.common import (
    REPO,
    SetupError,
    child_env,
    free_port,
    running_gateway,
    stop,
    throwaway_database,
)

LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
TOTAL = "Aggregated"
PUBLIC_ALL = "GET public (all)"  # the row loadtests/locustfile.py merges the public GETs into
MIXES = ("default", "public", "cluster")
DEFAULT_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
CLUSTER_SETTINGS = {
    "ECERT_RATE_LIMITS": "0",  # every request comes from one address: measure the gateway
    "ECERT_ACCESS_LOG": "off",
    "ECERT_REFRESH_INTERVAL": "0.2",  # a revoke in one process is seen by the others soon
}
NAME_WIDTH = 28
_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s?)?")
_GRACE = 120  # seconds on top of --run-time before locust is stopped by force
_LOG_TAIL = 4000


@dataclass(frozen=True)
class Stat:
    name: str
    requests: int
    failures: int
    rps: float
    p50: float
    p95: float
    p99: float

    @property
    def failure_ratio(self) -> float:
        return self.failures / self.requests if self.requests else 0.0


def parse_duration(text: str) -> int:
    """Seconds in a locust ``--run-time`` (``30``, ``30s``, ``2m``, ``1h5m``)."""
    match = _DURATION.fullmatch(text.strip())
    if not text.strip() or match is None:
        raise argparse.ArgumentTypeError(
            f"expected a duration like 30s, 2m or 1h5m, found {text!r}"
        )
    hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    total = hours * 3600 + minutes * 60 + seconds
    if total <= 0:
        raise argparse.ArgumentTypeError(f"run time must be positive, found {text!r}")
    return total


def _number(value: str) -> float:
    try:
        return float(value)
    except ValueError:  # locust writes "N/A" for percentiles of a type with no requests
        return float("nan")


def read_stats(rows: Iterable[dict[str, str]]) -> list[Stat]:
    """Per request type and total, from the rows of locust's ``<prefix>_stats.csv``."""
    stats = []
    for row in rows:
        name = row["Name"] if row["Name"] == TOTAL else f"{row['Type']} {row['Name']}".strip()
        stats.append(
            Stat(
                name=name,
                requests=int(row["Request Count"]),
                failures=int(row["Failure Count"]),
                rps=_number(row["Requests/s"]),
                p50=_number(row["50%"]),
                p95=_number(row["95%"]),
                p99=_number(row["99%"]),
            )
        )
    return stats


def format_stats(stats: list[Stat]) -> str:
    """The table, per request type by count; the merged public GETs, then the total, last."""
    width = max([NAME_WIDTH, *(len(s.name) for s in stats)])
    head = (
        f"{'request type':<{width}} {'requests':>9} {'share':>6} {'req/s':>8} {'failures':>9} "
        f"{'fail %':>7} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7}"
    )
    # the share of each row, the merged one included, is of all requests (TOTAL excludes it)
    total = next((s for s in stats if s.name == TOTAL), None)
    whole = total.requests if total else sum(s.requests for s in stats if s.name != PUBLIC_ALL)
    lines = [head, "-" * len(head)]
    for s in sorted(stats, key=lambda s: (s.name == TOTAL, s.name == PUBLIC_ALL, -s.requests)):
        if s.name in (TOTAL, PUBLIC_ALL):
            lines.append("-" * len(head))
        share = 100 * s.requests / whole if whole else 0.0
        lines.append(
            f"{s.name:<{width}} {s.requests:>9} {share:>5.1f}% {s.rps:>8.1f} {s.failures:>9} "
            f"{100 * s.failure_ratio:>6.2f}% {s.p50:>7.0f} {s.p95:>7.0f} {s.p99:>7.0f}"
        )
    return "\n".join(lines)


def server_errors(log: str, limit: int = 3) -> list[str]:
    """The first ``limit`` distinct exceptions in a server log, each as its last line followed
    by the deepest frames in this repository's own code (not its dependencies)."""
    found: dict[str, str] = {}
    lines = log.splitlines()
    for at, line in enumerate(lines):
        if not line.startswith("Traceback"):
            continue
        end = at + 1
        while end < len(lines) and (lines[end].startswith((" ", "\t")) or not lines[end]):
            end += 1
        if end >= len(lines):
            break
        ours = [
            f"    at {frame.strip()}"
            for frame in lines[at + 1 : end]
            if frame.lstrip().startswith("File ") and "site-packages" not in frame
        ]
        found.setdefault(lines[end], "\n".join([lines[end], *ours[-3:]]))
        if len(found) >= limit:
            break
    return list(found.values())


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _tail(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[-_LOG_TAIL:]
    except OSError:
        return "(no log)"


def _run_locust(host: str, api_key: str, root: Path, args: argparse.Namespace) -> int:
    prefix = root / "locust"
    log_path = root / "locust.log"
    cmd = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "-u",
        str(args.users),
        "-r",
        str(args.spawn_rate),
        "--run-time",
        f"{args.run_time}s",
        "--stop-timeout",
        "5",
        "--host",
        host,
        "--only-summary",
        "--csv",
        str(prefix),
        "--loglevel",
        "WARNING",
    ]
    public_csv = root / "locust_public.csv"
    env = child_env(
        ECERT_LOAD_HOST=host,
        ECERT_LOAD_API_KEY=api_key,
        ECERT_LOAD_WAIT=args.wait,
        ECERT_LOAD_MIX=args.mix,
        ECERT_LOAD_PUBLIC_CSV=str(public_csv),
    )
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 - our interpreter, fixed arguments
            cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=REPO
        )
        try:
            process.wait(timeout=args.run_time + _GRACE)
        except subprocess.TimeoutExpired:
            print(f"locust still running {_GRACE} s after --run-time: stopping it", flush=True)
        finally:
            stop(process)
    stats_csv = prefix.with_name(prefix.name + "_stats.csv")
    # locust exits 1 when any request failed: judged below by the ratio instead.
    if process.returncode not in (0, 1) or not stats_csv.exists():
        print(f"locust exited {process.returncode}; its log:\n{_tail(log_path)}", flush=True)
        return 2
    with stats_csv.open(encoding="utf-8", newline="") as handle:
        stats = read_stats(csv.DictReader(handle))
    if public_csv.exists():  # written by the locustfile in the public mix
        with public_csv.open(encoding="utf-8", newline="") as handle:
            stats.extend(read_stats(csv.DictReader(handle)))
    print(format_stats(stats), flush=True)
    failures_csv = prefix.with_name(prefix.name + "_failures.csv")
    if failures_csv.exists():
        with failures_csv.open(encoding="utf-8", newline="") as handle:
            failed = list(csv.DictReader(handle))
        if failed:
            print("\nfailures (first 10 kinds):")
            for row in failed[:10]:
                print(f"  {row['Occurrences']:>6} × {row['Method']} {row['Name']}: {row['Error']}")
    total = next((s for s in stats if s.name == TOTAL), None)
    if total is None or total.requests == 0:
        print("\nRESULT: FAIL: no requests were measured", flush=True)
        return 1
    verdict = "PASS" if total.failure_ratio <= args.max_failure_ratio else "FAIL"
    print(
        f"\nRESULT: {verdict}: {total.requests} requests at {total.rps:.1f}/s, failure ratio "
        f"{100 * total.failure_ratio:.2f}% (limit {100 * args.max_failure_ratio:.2f}%)",
        flush=True,
    )
    return 0 if verdict == "PASS" else 1


def _plan(args: argparse.Namespace) -> str:
    mix = "" if args.mix == "default" else f", mix {args.mix}"
    return (
        f"{args.users} users, spawn {args.spawn_rate:g}/s, wait {args.wait} s, "
        f"{args.run_time} s{mix}"
    )


def raw_es256(seconds: float = 1.0) -> tuple[float, float]:
    """Raw ``cryptography`` ES256 verifies and signs a second on one core, now: the baseline
    every figure of a run is read against (as ``loadtests.bench`` does)."""
    import time

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    algorithm = ec.ECDSA(hashes.SHA256())
    data = b"eyJhbGciOiJFUzI1NiJ9." + b"x" * 300  # a credential's signing input, roughly
    signature = key.sign(data, algorithm)
    rates = []
    for work in (lambda: key.public_key().verify(signature, data, algorithm),
                 lambda: key.sign(data, algorithm)):  # fmt: skip
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            for _ in range(50):
                work()
            count += 50
        rates.append(count / (time.perf_counter() - start))
    return rates[0], rates[1]


def _baseline_lines(before: tuple[float, float], after: tuple[float, float]) -> str:
    verify = (before[0] + after[0]) / 2
    sign = (before[1] + after[1]) / 2
    return (
        f"raw cryptography ES256 on one core in this run (mean of before and after the load): "
        f"verify {verify:,.0f}/s, sign {sign:,.0f}/s; divide a row's req/s by them for its "
        f"ratio (a paced load: --wait 0,0 for capacity)"
    )


def _run_cluster(root: Path, args: argparse.Namespace) -> int:
    """``--cluster N``: the city on N processes behind HAProxy, then the locust run."""
    from cli.cluster_demo import prepare_city
    from cli.cluster_procs import ClusterError, start_cluster

    port = free_port()
    ports = [free_port() for _ in range(args.cluster)]
    with throwaway_database(args.database_url) as database:
        data_dir = root / "city"
        try:
            agency = prepare_city(data_dir, database, f"http://127.0.0.1:{port}")
            cluster = start_cluster(data_dir=data_dir, database_url=database, port=port,
                                    gateway_ports=ports, env=CLUSTER_SETTINGS)  # fmt: skip
        except ClusterError as exc:
            raise SetupError(str(exc)) from exc
        try:
            print(f"{args.cluster} gateway processes behind HAProxy on {cluster.url}; "
                  f"locust: {_plan(args)}", flush=True)  # fmt: skip
            before = raw_es256()
            code = _run_locust(cluster.url, agency["api_key"], root, args)
            print(_baseline_lines(before, raw_es256()), flush=True)
            for gw in cluster.gateways:
                errors = server_errors(gw.log.read_text(encoding="utf-8", errors="replace"))
                for block in errors:
                    print(f"  {gw.name}: {block}", flush=True)
                if not gw.alive():
                    print(f"{gw.name} died during the run:\n{gw.log_tail()}", flush=True)
                    code = max(code, 1)
            return code
        finally:
            cluster.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests.run_load", description=__doc__)
    parser.add_argument(
        "--run-time", type=parse_duration, default=30, help="locust run time (default 30s)"
    )
    parser.add_argument("--users", type=int, default=20, help="simulated users (default 20)")
    parser.add_argument("--spawn-rate", type=float, default=10, help="users started a second")
    parser.add_argument(
        "--wait",
        default="0.05,0.25",
        help="min,max seconds a user waits between requests (default 0.05,0.25; 0,0 = flat out)",
    )
    parser.add_argument("--max-failure-ratio", type=float, default=0.01)
    parser.add_argument(
        "--mix",
        choices=MIXES,
        default="default",
        help="default: verify/issue/status; cluster: also status list GETs; public: also the "
        "public GETs under issuance, the gateway a region trust anchor (default: default)",
    )
    parser.add_argument(
        "--host",
        default=None,
        metavar="URL",
        help="drive a gateway already running at URL (loopback) instead of starting one",
    )
    parser.add_argument(
        "--api-key",
        default=os.environ.get("ECERT_LOAD_API_KEY", ""),
        help="with --host: an agency API key with the issue and status scopes, for a "
        "business-licence issuer (default: ECERT_LOAD_API_KEY)",
    )
    parser.add_argument(
        "--cluster",
        type=int,
        default=0,
        metavar="N",
        choices=range(17),
        help="run the city on N processes behind HAProxy on PostgreSQL (0: one gateway, SQLite)",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("ECERT_LOAD_DATABASE_URL", DEFAULT_SERVER),
        help="with --cluster: the PostgreSQL server to make a throw-away database on",
    )
    args = parser.parse_args(argv)
    if args.cluster and args.host is not None:
        parser.error("--cluster starts its own gateways: not with --host")
    if args.mix == "public" and args.cluster:
        parser.error("--mix public needs a trust anchor: run it without --cluster")
    if args.host is not None and not args.api_key:
        parser.error("--host needs --api-key (or ECERT_LOAD_API_KEY)")
    # Both signals end the run through the same clean-up; SIGINT explicitly, since a shell
    # starts background jobs with it ignored.
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with tempfile.TemporaryDirectory(prefix="ecert-load-") as tmp:
            root = Path(tmp)
            if args.host is not None:
                print(
                    f"gateway at {args.host} (not started here); locust: {_plan(args)}",
                    flush=True,
                )
                return _run_locust(args.host.rstrip("/"), args.api_key, root, args)
            if args.cluster:
                print(f"starting {args.cluster} gateway processes and HAProxy ...", flush=True)
                return _run_cluster(root, args)
            print(f"starting a gateway in {root} ...", flush=True)
            with running_gateway(root, anchor=args.mix == "public") as server:
                print(f"gateway on {server.base_url}; locust: {_plan(args)}", flush=True)
                code = _run_locust(server.base_url, server.api_key, root, args)
                errors = server_errors(
                    server.log_path.read_text(encoding="utf-8", errors="replace")
                )
                if errors:
                    print("\nserver errors (first of each kind):", flush=True)
                    for block in errors:
                        print(f"  {block}", flush=True)
                if server.process.poll() is not None:
                    print(f"the gateway died during the run:\n{server.log_tail()}", flush=True)
                    code = max(code, 1)
            return code
    except SetupError as exc:
        print(f"setup failed: {exc}", file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        print("interrupted: gateway and locust stopped, data dir removed", file=sys.stderr)
        return 130
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


if __name__ == "__main__":
    sys.exit(main())
