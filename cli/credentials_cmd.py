"""``ecert credentials list|show``: an agency's credentials, found and read from the command line.

``list`` pages through :func:`gateway.credential_query.search` (the API's
``GET /api/v1/credentials``): one page a run, ``--cursor`` for the next, a table or ``--json``.
``show`` prints :func:`gateway.credential_views.detail`: the record, its GB/T 36903 metadata,
its status history and its QR text. ``print`` (a PDF) is :mod:`cli.print_cmd`'s, wired here.

Deliberately not here: issuing and status changes (:mod:`cli.credentials`).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cli.common import DEFAULT_DATA_DIR, DataDir, JsonOut, emit_json, gateway_at, say
from cli.print_cmd import print_credential
from cli.table import table
from gateway import credential_views
from gateway.credential_query import DEFAULT_LIMIT, MAX_LIMIT, CredentialQuery, search
from gateway.metadata import LABELS

credentials_app = typer.Typer(
    help="An agency's credentials: list, search, show, print. 证照查询", no_args_is_help=True
)
DAY = "YYYY-MM-DD（中国时间）或 ISO 8601"


def _day(flag: str, what: str) -> Any:
    return typer.Option(flag, help=f"{what} · {DAY}")


@credentials_app.command("list")
def list_credentials(
    agency: Annotated[str, typer.Option("--agency", help="agency id 签发机构")],
    type_: Annotated[str | None, typer.Option("--type", help="credential type 证照类型")] = None,
    status: Annotated[
        str | None,
        typer.Option(
            "--status", help="01 … 99, or valid, suspended, revoked (every final code) 证照状态"
        ),
    ] = None,
    q: Annotated[
        str | None,
        typer.Option(
            "--query",
            "--q",
            "-q",
            help="the subject's name (any part), full code (统一社会信用代码 / 公民身份号码) or "
            "证照标识 持证主体名称或代码",
        ),
    ] = None,
    issued_from: Annotated[str | None, _day("--issued-from", "issued on or after 签发日起")] = None,
    issued_to: Annotated[str | None, _day("--issued-to", "issued on or before 签发日止")] = None,
    valid_on: Annotated[str | None, _day("--valid-on", "valid on that day 当日有效")] = None,
    expires_from: Annotated[
        str | None, _day("--expires-from", "valid_until on or after 截止日起")
    ] = None,
    expires_to: Annotated[
        str | None, _day("--expires-to", "valid_until on or before 截止日止")
    ] = None,
    cursor: Annotated[
        str | None, typer.Option("--cursor", help="the next page, as the last one printed 翻页")
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=MAX_LIMIT, help="items a page 每页条数")
    ] = DEFAULT_LIMIT,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: JsonOut = False,
) -> None:
    """List and search an agency's credentials, newest first. 查询证照"""
    query = CredentialQuery(
        type=type_, status=status, q=q, issued_from=issued_from, issued_to=issued_to,
        valid_on=valid_on, expires_from=expires_from, expires_to=expires_to,
    )  # fmt: skip
    with gateway_at(data_dir) as gw:
        page = search(gw, agency_id=agency, query=query, cursor=cursor, limit=limit)
    if as_json:
        emit_json({"items": page.items, "next_cursor": page.next_cursor})
        return
    if not page.items:
        say("没有符合条件的证照 · no credentials match")
        return
    rows = [
        (
            c["id"], c["type_name"]["zh"], c["subject_name"], c["subject_code"],
            f"{c['status_code']} {c['status_name']['zh']}", (c["issued_at"] or "")[:10],
            (c["valid_until"] or "长期")[:10],
        )
        for c in page.items
    ]  # fmt: skip
    headers = (
        "编号 id", "类型 type", "持证主体 subject", "代码 code", "状态 status",
        "签发 issued", "有效期至 until",
    )  # fmt: skip
    say(table(headers, rows))
    if page.next_cursor:
        say(f"还有更多 · more: --cursor {page.next_cursor}")


@credentials_app.command("show")
def show_credential(
    credential_id: Annotated[str, typer.Argument(help="credential id 证照编号")],
    agency: Annotated[
        str | None,
        typer.Option("--agency", help="refuse unless this agency issued it 仅限该机构的证照"),
    ] = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: JsonOut = False,
) -> None:
    """One credential: metadata, status history and QR text. 证照详情"""
    with gateway_at(data_dir) as gw:
        detail = credential_views.detail(gw, credential_id, agency)
    if as_json:
        emit_json(detail)
        return
    meta = detail["metadata"]
    say(f"{meta['licence_name']}  {detail['identifier']}  (id {detail['id']})")
    for key, label in LABELS.items():
        value = meta[key]
        if isinstance(value, dict):  # the status: code and names
            value = f"{value['code']} {value['zh']} {value['en']}"
        say(f"  {label} {key}: {value if value is not None else '—'}")
    say("状态变更 · status history:")
    if not detail["status_history"]:
        say("  （无 · none）")
    for change in detail["status_history"]:
        say(
            f"  {change['at']}  {change['action']}  {change['code']} {change['status']['zh']}  "
            f"{change['actor']}  原因 reason：{change['reason']}"
        )
    say(f"二维码内容 · QR text:\n{detail['qr_text']}")


# ``ecert credentials print ID --out FILE``: a printable PDF (cli/print_cmd.py)
credentials_app.command("print")(print_credential)
