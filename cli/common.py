"""Shared CLI plumbing: options, opening the gateway, printing JSON."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:  # imported when a command opens a gateway: ``ecert verify --gateway`` never does
    from gateway.core import Gateway

DEMO_MARKER = "DEMO"

DataDir = Annotated[
    Path,
    typer.Option(
        "--data-dir",
        envvar="ECERT_DATA_DIR",
        help="Data directory (SQLite database, generated passphrase). 数据目录",
    ),
]
JsonOut = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]
DEFAULT_DATA_DIR = Path(".ecert")


def is_demo(data_dir: Path) -> bool:
    return (data_dir / DEMO_MARKER).exists()


def open_gateway(data_dir: Path, *, public_url: str | None = None) -> Gateway:
    from gateway.core import Gateway
    from gateway.settings import load_settings

    settings = load_settings(data_dir=data_dir, demo=True if is_demo(data_dir) else None)
    if public_url is not None:
        settings = settings.model_copy(update={"public_url": public_url})
    return Gateway.open(settings)


@contextmanager
def gateway_at(data_dir: Path) -> Iterator[Gateway]:
    """The gateway of ``data_dir`` for one command, closed however the command ends."""
    gw = open_gateway(data_dir)
    try:
        yield gw
    finally:
        gw.close()


def emit_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, indent=2) + "\n")


def say(text: str, *, err: bool = False) -> None:
    """Human output: stdout, or stderr when ``--json`` owns stdout (pass ``err=as_json``)."""
    typer.echo(text, err=err)
