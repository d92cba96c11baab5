"""``ecert credentials print ID --out FILE [--size card]``: a credential as a printable PDF.

:func:`print_credential` is a typer command function; the ``credentials`` group wires it as
``print`` (``credentials_app.command("print")(print_credential)``). It prints what
``GET /api/v1/credentials/{id}/print.pdf`` serves (:func:`gateway.printing.print_pdf`), run by
the local administrator on the data directory: any agency's credential, or with ``--agency``
only that agency's.

The file is written whole or not at all (a temporary file beside it, then renamed), and an
existing file is replaced only with ``--force``. Deliberately not here: the PDF itself.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from cli.common import DEFAULT_DATA_DIR, DataDir, gateway_at, say
from trust.errors import DataError

CredentialId = Annotated[str, typer.Argument(help="credential id 证照记录编号")]
Out = Annotated[
    Path, typer.Option("--out", dir_okay=False, help="the PDF file to write 输出的 PDF 文件")
]
Size = Annotated[
    str, typer.Option("--size", help="a4: A4 副本 (default); card: ID-1 card 卡片尺寸")
]
Agency = Annotated[
    str | None, typer.Option("--agency", help="only if it is this agency's 仅限该机构的证照")
]
Force = Annotated[bool, typer.Option("--force", help="replace an existing file 覆盖已有文件")]


def print_credential(
    credential_id: CredentialId,
    out: Out,
    size: Size = "a4",
    agency: Agency = None,
    force: Force = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Write a credential as a printable PDF (A4 副本 or card). 打印证照"""
    if out.exists() and not force:
        raise DataError(
            f"文件已存在：{out}（如需覆盖请加 --force） · {out} exists; pass --force to replace it"
        )
    from gateway.printing import print_pdf  # the gateway and the PDF library, only when run

    with gateway_at(data_dir) as gw:
        pdf = print_pdf(gw, agency_id=agency, credential_id=credential_id, size=size)
    _write_whole(out, pdf)
    say(f"已写入 {out}（{size}，{len(pdf)} 字节） · wrote {out} ({size}, {len(pdf)} bytes)")


def _write_whole(path: Path, data: bytes) -> None:
    folder = path.resolve().parent
    fd, temp = tempfile.mkstemp(prefix=".ecert-print-", suffix=".pdf", dir=folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
