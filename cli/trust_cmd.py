"""``ecert trust export``: a trust bundle for an air-gapped kiosk."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from cli.common import DEFAULT_DATA_DIR, DataDir, JsonOut, emit_json, gateway_at, say
from gateway import trustexport

trust_app = typer.Typer(help="Trust lists for offline verifiers 离线信任列表", no_args_is_help=True)


@trust_app.command("export")
def export(
    out: Annotated[Path, typer.Option("--out", help="bundle file to write")],
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: JsonOut = False,
) -> None:
    """Write root + trust list + status lists to one file. 导出信任包"""
    with gateway_at(data_dir) as gw:
        trustexport.prepare(gw)  # a root due for renewal is renewed before it is exported
        data = trustexport.export_bundle(gw)
    partial = out.with_name(out.name + ".partial")
    partial.write_bytes(data)
    os.replace(partial, out)  # never a half-written bundle
    if as_json:
        emit_json({"out": str(out), "bytes": len(data)})
    else:
        say(f"trust bundle written to {out} ({len(data)} bytes) · 信任包已导出")
