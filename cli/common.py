"""Shared CLI plumbing: options, opening the gateway, printing JSON.

Only the commands that make a gateway (``ecert init``, ``ecert demo``, ``ecert restore``) open one
with ``create=True``; every other command refuses a data directory (or a configured database)
that holds no gateway, before anything is written: a command run in the wrong folder must not
leave an empty database behind and exit 0 (issue 12).
"""

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


def open_gateway(data_dir: Path, *, public_url: str | None = None, create: bool = False) -> Gateway:
    """The gateway of ``data_dir``; unless ``create``, only one that exists
    (:func:`cli.gateway_here.require`)."""
    from cli import gateway_here
    from gateway.core import Gateway
    from gateway.settings import load_settings

    settings = load_settings(data_dir=data_dir, demo=True if is_demo(data_dir) else None)
    if public_url is not None:
        settings = settings.model_copy(update={"public_url": public_url})
    if create:
        return Gateway.open(settings)
    gateway_here.require(settings)
    with gateway_here.leaving_no_data_dir(settings):
        return Gateway.open(settings)


@contextmanager
def gateway_at(data_dir: Path, *, create: bool = False) -> Iterator[Gateway]:
    """The gateway of ``data_dir`` for one command, closed however the command ends. Only a
    command that makes a gateway passes ``create=True``; any other refuses a data directory
    or database that holds none, with a zh/en error saying how to make one."""
    gw = open_gateway(data_dir, create=create)
    try:
        yield gw
    finally:
        gw.close()


def emit_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, indent=2) + "\n")


def say(text: str, *, err: bool = False) -> None:
    """Human output: stdout, or stderr when ``--json`` owns stdout (pass ``err=as_json``)."""
    typer.echo(text, err=err)
