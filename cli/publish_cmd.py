"""``ecert publish --out DIR``: this city's public documents as a folder for any static server.

What is written and how (atomically, with the headers a web server needs): see
:mod:`gateway.static_site`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.common import DEFAULT_DATA_DIR, DataDir, JsonOut, emit_json, gateway_at, say
from gateway import static_site


def publish(
    out: Annotated[
        Path, typer.Option("--out", help="folder to write (a link to a new version each time)")
    ],
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: JsonOut = False,
) -> None:
    """Write status lists, trust list, JWKS and entity configurations to a folder. 发布公开文档"""
    static_site.check_out_folder(out)
    with gateway_at(data_dir) as gw:
        docs = static_site.collect(gw)
    version = static_site.write_site(out, docs)
    size = sum(len(d.body) for d in docs)
    if as_json:
        emit_json({"out": str(out.absolute()), "version": str(version), "documents": len(docs),
                   "bytes": size, "paths": [d.path for d in docs]})  # fmt: skip
        return
    say(f"已发布 {len(docs)} 个公开文档（{size} 字节）到 {out} · published {len(docs)} documents "
        f"({size} bytes) to {out}")  # fmt: skip
    say(f"  nginx: include {out.absolute() / static_site.NGINX_FILE} (root {out.absolute()}); "
        f"CDN: {static_site.HEADERS_FILE}, {static_site.REDIRECTS_FILE}")  # fmt: skip
