"""Run the installed ``ecert`` console script as a real subprocess, and serve with it.

Every subprocess gets a bounded timeout and an environment without the caller's ``ECERT_*``
variables (so ``ECERT_KEY_PASSPHRASE``, ``ECERT_DATABASE_URL`` and ``ECERT_DATA_DIR`` from the
developer's shell cannot leak in); a test that wants one passes it explicitly. Servers listen on
a free loopback port, are ready once ``/healthz`` answers, and are always stopped (SIGTERM, then
SIGKILL) by whoever started them.

Each ``ecert`` start costs about two seconds of imports, so independent commands run side by
side through :func:`ecert_many`.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from cli import ready

ECERT = Path(sys.executable).with_name("ecert")
TIMEOUT = 60  # seconds, for every ecert subprocess
READY_TIMEOUT = 30  # seconds for a server to answer /healthz
STOP_GRACE = 5  # seconds between SIGTERM and SIGKILL
FINISHED = "Finished server process"  # uvicorn's last line of a shutdown it completed


def cli_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """``os.environ`` without any ``ECERT_*`` variable, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECERT_")}
    env.update(extra or {})
    return env


@dataclass(frozen=True)
class Result:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        """stdout parsed as one JSON document (fails loudly with the whole output)."""
        try:
            return json.loads(self.stdout)
        except ValueError as exc:
            raise AssertionError(f"stdout of {self} is not JSON: {exc}") from exc

    @property
    def stderr_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]

    def one_error_line(self) -> str:
        """The single ``error: …`` line a failing command must print to stderr."""
        assert self.returncode == 1, self
        assert len(self.stderr_lines) == 1, self
        line = self.stderr_lines[0]
        assert line.startswith("error: "), self
        assert any("\u4e00" <= ch <= "\u9fff" for ch in line), f"no Chinese in: {line}"
        return line

    def __str__(self) -> str:
        return (
            f"`ecert {' '.join(self.args)}` exited {self.returncode}\n"
            f"--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}"
        )


def _popen(
    args: Sequence[str], env: Mapping[str, str] | None, cwd: Path | None, *, typed: bool = False
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(ECERT), *args],
        stdin=subprocess.PIPE if typed else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        env=cli_env(env),
        cwd=cwd,
    )


def _finish(
    proc: subprocess.Popen[str], args: Sequence[str], deadline: float, typed: str | None = None
) -> Result:
    try:
        out, err = proc.communicate(typed, timeout=max(0.1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"`ecert {' '.join(args)}` timed out\n{out}\n{err}") from None
    return Result(tuple(args), proc.returncode, out, err)


def ecert(
    *args: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    typed: str | None = None,
) -> Result:
    """Run ``ecert ARGS`` to completion (at most :data:`TIMEOUT` seconds); ``typed`` is what a
    user types at its prompts (its stdin; without it, stdin is empty)."""
    if typed is None:
        return ecert_many([list(args)], env=env, cwd=cwd)[0]
    proc = _popen(args, env, cwd, typed=True)
    try:
        return _finish(proc, args, time.monotonic() + TIMEOUT, typed)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def ecert_many(
    commands: Sequence[Sequence[str]],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    stagger: float = 0.0,
) -> list[Result]:
    """Run independent ``ecert`` commands at the same time (each started ``stagger`` seconds
    after the one before); results in the given order."""
    deadline = time.monotonic() + TIMEOUT + stagger * len(commands)
    procs: list[subprocess.Popen[str]] = []
    try:
        for n, args in enumerate(commands):
            if n and stagger:
                time.sleep(stagger)
            procs.append(_popen(args, env, cwd))
        return [_finish(p, a, deadline) for p, a in zip(procs, commands, strict=True)]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()


@contextmanager
def side_by_side(chains: Mapping[str, Callable[[], Any]]) -> Iterator[dict[str, Future[Any]]]:
    """Run independent chains of ``ecert`` runs in threads; waits for all of them on exit.

    Each chain keeps its own order; a test takes its chain's outcome with :func:`outcome`, so a
    failing chain fails only the tests that read it.
    """
    with ThreadPoolExecutor(max_workers=len(chains)) as pool:
        yield {name: pool.submit(chain) for name, chain in chains.items()}


def outcome(chains: Mapping[str, Future[Any]], name: str) -> Any:
    return chains[name].result(timeout=4 * TIMEOUT)


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def free_port(count: int = 1) -> int:
    """The first of ``count`` consecutive loopback ports nothing is bound to right now.

    Chosen below the kernel's ephemeral range, never by binding port 0: a port from that range
    is also what every outgoing connection (of this test, a gateway, the database driver) is
    handed as its local port, so in the seconds until the server that was given it binds, a
    connection may take it, and the server then fails to start (CI: a demo's gateway exited 3,
    "address already in use"). No connection is handed a port below the range."""
    low, _ = _ephemeral_range()
    first_allowed = 10_000 if low > 10_000 + 1_000 else 1_024
    for _ in range(200):
        first = first_allowed + secrets.randbelow(max(1, low - first_allowed - count))
        with ExitStack() as held:
            try:
                for port in range(first, first + count):
                    probe = held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
                    probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        return first
    raise AssertionError(f"found no {count} consecutive free loopback ports below {low}")


def hangzhou_city(data_dir: Path) -> tuple[int, str, list[str]]:
    """A new 杭州市 gateway in ``data_dir`` (``ecert init``) whose public URL is a free loopback
    port: that port, the URL, and the ``--data-dir`` arguments to reach it."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    where = ["--data-dir", str(data_dir)]
    made = ecert(
        "init", *where, "--city-code", "330100", "--city-name", "杭州市", "--public-url", url
    )
    assert made.returncode == 0, made
    return port, url, where


class Served:
    """``ecert serve`` or ``ecert demo`` on a free loopback port; use as a context manager."""

    def __init__(
        self,
        args: Sequence[str],
        log_dir: Path,
        *,
        port: int | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.port = port or free_port()
        self.env = cli_env(env)
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = [*args, "--host", "127.0.0.1", "--port", str(self.port)]
        self.log = log_dir / f"ecert-{self.port}.log"
        self._log_handle: IO[str] | None = None
        self.proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> Served:
        self._log_handle = self.log.open("w", encoding="utf-8")
        self.proc = subprocess.Popen(
            [str(ECERT), *self.args],
            stdin=subprocess.DEVNULL,
            stdout=self._log_handle,
            stderr=subprocess.STDOUT,
            text=True,
            env=self.env,
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8")

    def _wait_ready(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + READY_TIMEOUT
        missed = ready.wait_healthy(self.url, exit_code=self.proc.poll, deadline=deadline)
        if missed is None:
            return
        if missed.exit_code is not None:
            raise AssertionError(
                f"`ecert {' '.join(self.args)}` exited {missed.exit_code} before "
                f"it was ready:\n{self.output()}"
            )
        raise AssertionError(
            f"{self.url}/healthz did not answer in {READY_TIMEOUT}s ({missed.last})"
        )

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after :data:`STOP_GRACE` seconds."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=STOP_GRACE)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=STOP_GRACE)
            self.proc = None
        if self._log_handle is not None:
            self._log_handle.close()
            self._log_handle = None


def database_env(database_url: str) -> dict[str, str]:
    """The environment that points ``ecert`` at ``database_url``: nothing for the data
    directory's own SQLite file, ``ECERT_DATABASE_URL`` for a shared PostgreSQL."""
    if database_url.startswith("sqlite"):
        return {}
    return {"ECERT_DATABASE_URL": database_url}


def stall_mid_body(port: int, *, timeout: float = READY_TIMEOUT) -> socket.socket:
    """A client of ``port`` on loopback stalled mid-body: it sent its headers, waited for the
    app to ask for the body (``Expect: 100-continue``: uvicorn answers 100 when the app first
    reads it), then sent half of it and nothing more. The caller closes it."""
    body = b'{"qr": "' + b"0" * 200 + b'"}'
    client = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    client.sendall(
        b"POST /api/v1/verify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Expect: 100-continue\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n"
    )
    answer = b""
    while b"\r\n\r\n" not in answer:
        data = client.recv(1024)
        assert data, f"the server closed the connection; it sent {answer!r}"
        answer += data
    assert answer.startswith(b"HTTP/1.1 100 "), answer
    client.sendall(body[: len(body) // 2])
    return client
