"""``ecert serve`` and ``ecert demo``."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from cli.common import DEFAULT_DATA_DIR, DEMO_MARKER, DataDir, gateway_at, say
from gateway import agencies, demo, publicurl
from gateway.app import REQUEST_GRACE, create_app
from gateway.core import Gateway

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


def _run(gw: Gateway, host: str, port: int) -> None:
    """Serve until SIGTERM or SIGINT, then stop within 5 s whatever clients, peers and
    background work are doing (issue 8, "a shutdown that ends"): requests in flight get
    ``REQUEST_GRACE`` seconds to finish (uvicorn's graceful shutdown; without a bound it waits
    for every open request, and a client that sent half a body held the process, its port
    already closed, until that client gave up); a request still running then is cancelled;
    then the app's lifespan stops its background work within ``SHUTDOWN_GRACE``."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    uvicorn.run(
        create_app(gw),
        host=host,
        port=port,
        log_level="info",
        access_log=False,
        timeout_graceful_shutdown=REQUEST_GRACE,
    )


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
) -> None:
    """Serve the gateway over HTTP, under the city's public URL. 启动网关"""
    with gateway_at(data_dir) as gw:
        # The city's URL, never this process's own: every process of one city prints one URL.
        url = publicurl.agree(gw, public_url)
        with gw.sessions() as session:
            city = gw.city(session)
        say(
            f"{city.name} ({city.code}) gateway on {_listening(host, port)}, public URL {url} · "
            f"网关已启动，公共网址 {url}"
        )
        _warn_if_cannot_print(gw)
        _run(gw, host, port)


def demo_cmd(
    data_dir: Annotated[Path, typer.Option("--data-dir", envvar="ECERT_DATA_DIR")] = Path(
        ".ecert/demo"
    ),
    host: Host = "127.0.0.1",
    port: Port = 8000,
    public_url: DemoPublicUrl = None,
) -> None:
    """A throw-away 杭州市 demo with two agencies and sample certificates. 演示"""
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / DEMO_MARKER).write_text(
        "throw-away demo data: not for production\n", encoding="utf-8"
    )
    url = public_url or _listening(host, port)
    with gateway_at(data_dir) as gw:
        # The demo owns its data directory and is its only process: it sets its URL itself.
        agencies.init_city(gw, code="330100", name="杭州市", public_url=None, actor="demo")
        url = publicurl.set_public_url(gw, url, actor="demo").public_url
        info = demo.ensure_demo(gw, data_dir / "demo.json")
        say(demo.banner(info, url))
        _warn_if_cannot_print(gw)
        _run(gw, host, port)
