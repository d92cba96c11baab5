"""``ecert serve`` and ``ecert demo``.

Each binds its port first, before it opens (or, for the demo, makes) anything and before it
says it started: a port that is taken is a one-line zh/en error and exit 1, not a banner
followed by uvicorn's failure. The bound socket is handed to uvicorn, so no other process can
take the port between the check and the serving.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from cli.common import DEFAULT_DATA_DIR, DEMO_MARKER, DataDir, gateway_at, say
from cli.workers import MAX_WORKERS, Supervisor
from gateway import agencies, demo, publicurl
from gateway.app import REQUEST_GRACE, create_app
from gateway.coalesce import CoalescingHttpTools
from gateway.core import Gateway
from trust.errors import EcertError

Host = Annotated[str, typer.Option("--host")]
Port = Annotated[int, typer.Option("--port", min=1, max=65535)]
PublicUrl = Annotated[
    str | None,
    typer.Option(
        "--public-url",
        envvar="ECERT_PUBLIC_URL",
        help="URL put into QR codes: serve checks it is the city's (set by `ecert init`, "
        "changed by `ecert city set-url`) and refuses to start otherwise",
    ),
]


Workers = Annotated[
    int,
    typer.Option(
        "--workers",
        min=1,
        max=MAX_WORKERS,
        help="Worker processes serving the city on one port (SO_REUSEPORT; restarted if one "
        "dies). 工作进程数",
    ),
]
WORKER_HEADER = "X-Ecert-Worker"  # the answering process's id, on every answer


DemoPublicUrl = Annotated[
    str | None,
    typer.Option(
        "--public-url",
        envvar="ECERT_PUBLIC_URL",
        help="URL put into the demo's QR codes (default http://HOST:PORT); the demo, alone on "
        "its data directory, sets it itself",
    ),
]


def _listening(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104 - only a display name
    return f"http://{shown}:{port}"


class CannotListen(EcertError):
    """The address to serve on cannot be bound (taken, not this host's, not permitted)."""


class WorkersFailed(EcertError):
    """``ecert serve --workers N``: a worker could not start serving."""


def bind(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A TCP socket bound to ``host:port`` (as uvicorn binds: ``SO_REUSEADDR``, IPv6 for a
    host with a colon), not yet listening; :class:`CannotListen` when the port cannot be had.
    ``reuse_port``: one of several sockets of one city on the port (``--workers``)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        where = f"{host}:{port}"
        if exc.errno == errno.EADDRINUSE:
            raise CannotListen(
                f"端口已被占用：{where} 上已有其他程序在监听，网关未启动；请换一个 --port，"
                f"或先停止占用该端口的进程 · port in use: expected {where} free, found another "
                "process listening there; the gateway did not start (choose another --port or "
                "stop that process)"
            ) from None
        raise CannotListen(
            f"无法监听 {where}，网关未启动：{exc.strerror} · cannot listen on {where}: "
            f"{exc.strerror}; the gateway did not start"
        ) from None
    sock.set_inheritable(True)
    return sock


def bind_all(host: str, port: int, count: int) -> list[socket.socket]:
    """``count`` sockets bound to ``host:port`` with ``SO_REUSEPORT`` (one a worker). The port
    is first bound once without it, so a port another process holds (even one that set
    ``SO_REUSEPORT`` itself, such as another ``ecert serve --workers``) is the usual error."""
    bind(host, port).close()
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sockets.append(bind(host, port, reuse_port=True))
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


class _Server(uvicorn.Server):
    """uvicorn's server, calling ``on_ready`` once it serves (its lifespan started, its socket
    listening)."""

    def __init__(self, config: uvicorn.Config, on_ready: Callable[[], None] | None) -> None:
        super().__init__(config)
        self._on_ready = on_ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started and not self.should_exit and self._on_ready is not None:
            self._on_ready()


def _run(gw: Gateway, sock: socket.socket, on_ready: Callable[[], None] | None = None) -> None:
    """Serve until SIGTERM or SIGINT, then stop within 5 s whatever clients, peers and
    background work are doing (issue 8, "a shutdown that ends"): requests in flight get
    ``REQUEST_GRACE`` seconds to finish (uvicorn's graceful shutdown; without a bound it waits
    for every open request, and a client that sent half a body held the process, its port
    already closed, until that client gave up); a request still running then is cancelled;
    then the app's lifespan stops its background work within ``SHUTDOWN_GRACE``. ``on_ready``
    is called once the server serves. Every answer carries the serving process's id
    (``X-Ecert-Worker``): which of a city's processes answered, for operators and tests."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    host, port = sock.getsockname()[:2]
    config = uvicorn.Config(
        create_app(gw, access_log_default="json"),  # ECERT_ACCESS_LOG=off turns it off
        host=host,
        port=port,
        log_level="info",
        access_log=False,  # ours is gateway.observe's: route templates, request ids, JSON
        # Measured (issue 13, loadtests/bench_verify.py): uvloop + httptools serve a verify for
        # less CPU than asyncio + h11 (see pyproject.toml for the figures).
        loop="uvloop",
        # httptools, each answer's head and body in one socket write (gateway.coalesce)
        http=CoalescingHttpTools,
        timeout_graceful_shutdown=REQUEST_GRACE,
        headers=[(WORKER_HEADER, str(os.getpid()))],
    )
    try:
        _Server(config, on_ready).run(sockets=[sock])
    finally:
        sock.close()


def _warn_if_cannot_print(gw: Gateway) -> None:
    """A warning at start-up when certificates cannot be printed (no Chinese font): printing
    answers 409 until the package it names is installed; everything else works."""
    from gateway.print_font import missing_font_warning

    warning = missing_font_warning(gw.settings)
    if warning is not None:
        say(f"警告 WARNING: {warning}", err=True)


def serve(
    data_dir: DataDir = DEFAULT_DATA_DIR,
    host: Host = "127.0.0.1",
    port: Port = 8000,
    public_url: PublicUrl = None,
    workers: Workers = 1,
) -> None:
    """Serve the gateway over HTTP, under the city's public URL. 启动网关"""
    if workers > 1:
        _serve_workers(data_dir, host, port, public_url, workers)
        return
    # Bound before anything says the gateway started; closed however the command ends.
    with closing(bind(host, port)) as sock, gateway_at(data_dir) as gw:
        say(_started(gw, host, port, public_url))
        _warn_if_cannot_print(gw)
        _run(gw, sock)


def _started(gw: Gateway, host: str, port: int, public_url: str | None, workers: int = 1) -> str:
    """The line that says the city serves (checking first that ``public_url``, if given, is the
    city's: every process of one city prints one URL, never its own)."""
    url = publicurl.agree(gw, public_url)
    with gw.sessions() as session:
        city = gw.city(session)
    processes = f" ({workers} processes 个进程)" if workers > 1 else ""
    return (
        f"{city.name} ({city.code}) gateway on {_listening(host, port)}{processes}, public URL "
        f"{url} · 网关已启动，公共网址 {url}"
    )


def _serve_workers(
    data_dir: Path, host: str, port: int, public_url: str | None, workers: int
) -> None:
    """``--workers N`` (:mod:`cli.workers`): the sockets bound and the city checked in this
    process, which then closes its database and supervises N workers; "started" is said once,
    when all of them serve."""
    sockets = bind_all(host, port, workers)
    try:
        with gateway_at(data_dir) as gw:  # migrated and checked once, closed before forking
            started = _started(gw, host, port, public_url, workers)
            _warn_if_cannot_print(gw)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise

    def work(sock: socket.socket, on_ready: Callable[[], None]) -> None:
        with gateway_at(data_dir) as gw:
            _run(gw, sock, on_ready)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    status = Supervisor(sockets, work).run(on_ready=lambda: say(started))
    if status != 0:
        raise WorkersFailed(
            f"网关未能以 {workers} 个进程运行：有工作进程未能启动或反复退出（原因见上方日志） · "
            f"the gateway could not run on {workers} processes: expected every worker serving, "
            "found one that could not start or kept exiting (its log is above)"
        )


def demo_cmd(
    data_dir: Annotated[Path, typer.Option("--data-dir", envvar="ECERT_DATA_DIR")] = Path(
        ".ecert/demo"
    ),
    host: Host = "127.0.0.1",
    port: Port = 8000,
    public_url: DemoPublicUrl = None,
) -> None:
    """A throw-away 杭州市 demo with two agencies and sample certificates. 演示"""
    # A taken port: nothing made, nothing said. Closed however the command ends.
    with closing(bind(host, port)) as sock:
        data_dir.mkdir(parents=True, exist_ok=True)
        (data_dir / DEMO_MARKER).write_text(
            "throw-away demo data: not for production\n", encoding="utf-8"
        )
        url = public_url or _listening(host, port)
        with gateway_at(data_dir, create=True) as gw:
            # The demo owns its data directory and is its only process: it sets its URL itself.
            agencies.init_city(gw, code="330100", name="杭州市", public_url=None, actor="demo")
            url = publicurl.set_public_url(gw, url, actor="demo").public_url
            info = demo.ensure_demo(gw, data_dir / "demo.json")
            say(demo.banner(info, url))
            _warn_if_cannot_print(gw)
            _run(gw, sock)
