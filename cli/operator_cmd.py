"""``ecert agency operator add|list|disable|enable``: the agency console's operators
(``gateway.console_auth``).

Added to ``ecert agency``'s group, which ``ecert`` loads from here (this module imports
``cli.apikey_cmd``, which adds ``agency key``). ``add`` prints the TOTP provisioning URI for an
authenticator app, as a QR code in the terminal too, and the password: a generated one shown
once, or one read from a hidden prompt (``--prompt``) or the first line of stdin
(``--password-stdin``). Nothing else ever prints a password, a hash or a TOTP secret.
"""

from __future__ import annotations

import secrets
import sys
from typing import Annotated, Any

import typer

import cli.apikey_cmd  # noqa: F401 - adds `agency key` to the group
from cli.admin import ACTOR, agency_app
from cli.common import DEFAULT_DATA_DIR, DataDir, JsonOut, emit_json, gateway_at, say
from trust.errors import DataError

operator_app = typer.Typer(help="Console operators 工作台操作员", no_args_is_help=True)
agency_app.add_typer(operator_app, name="operator")
MAX_STDIN = 1024


def terminal_qr(text: str) -> str:
    """``text`` as a QR code drawn with half blocks (two module rows a line), quiet zone
    included, dark modules dark on a light terminal and on a dark one alike."""
    from issuers.qr import encode

    modules = encode(text, ec_level="L").modules
    size = len(modules)
    quiet = 2

    def dark(row: int, col: int) -> bool:
        inside = 0 <= row < size and 0 <= col < size
        return inside and modules[row][col]

    lines = []
    for row in range(-quiet, size + quiet, 2):
        cells = []
        for col in range(-quiet, size + quiet):
            top, bottom = dark(row, col), dark(row + 1, col)
            # light modules are drawn (full blocks), dark ones left blank: reads on dark terminals
            cells.append(
                {(False, False): "█", (False, True): "▀", (True, False): "▄"}.get(
                    (top, bottom), " "
                )
            )
        lines.append("".join(cells))
    return "\n".join(lines)


def _read_password(prompt: bool, from_stdin: bool) -> tuple[str, bool]:
    """The password and whether it was generated (then it is printed once)."""
    if prompt and from_stdin:
        raise DataError(
            "--prompt 与 --password-stdin 只能选一个 · give --prompt or --password-stdin, not both"
        )
    if from_stdin:
        line = sys.stdin.readline(MAX_STDIN).rstrip("\r\n")
        if not line:
            raise DataError(
                "标准输入没有密码 · expected a password on the first line of stdin, found none"
            )
        return line, False
    if prompt:
        typed: str = typer.prompt("密码 Password", hide_input=True, confirmation_prompt=True)
        return typed, False
    return secrets.token_urlsafe(12), True


def _show(op: dict[str, Any]) -> str:
    return (
        f"{op['username']}  {op['id']}  {op['agency_id']}  {op['state']}  "
        f"created {op['created_at']}  last sign-in {op['last_sign_in_at'] or 'never 未登录'}  "
        f"failed {op['failed_attempts']}"
    )


@operator_app.command("add")
def operator_add(
    agency: Annotated[str, typer.Argument(help="the agency's id (ag-…)")],
    username: Annotated[str, typer.Argument(help="3-64 characters: a-z 0-9 . _ -")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from stdin's first line")
    ] = False,
    prompt: Annotated[bool, typer.Option("--prompt", help="type the password (hidden)")] = False,
    no_qr: Annotated[bool, typer.Option("--no-qr", help="print the URI without a QR")] = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: JsonOut = False,
) -> None:
    """A console operator: prints its TOTP URI (and QR) and its password. 新增工作台操作员"""
    from gateway import console_auth

    password, generated = _read_password(prompt, password_stdin)
    with gateway_at(data_dir) as gw:
        shown, uri = console_auth.add_operator(
            gw, agency_id=agency, username=username, password=password, actor=ACTOR
        )
    if as_json:
        emit_json({**shown, "totp_uri": uri, **({"password": password} if generated else {})})
        return
    say(_show(shown))
    say("TOTP (scan with an authenticator app · 用身份验证器应用扫描):")
    say(uri)
    if not no_qr:
        say(terminal_qr(uri))
    if generated:
        say(f"one-time password (shown once, 仅显示一次): {password}")


@operator_app.command("list")
def operator_list(
    agency: Annotated[str | None, typer.Option("--agency", help="only this agency's")] = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: JsonOut = False,
) -> None:
    """Operators with state, last sign-in and failed attempts. 工作台操作员列表"""
    from gateway import console_auth

    with gateway_at(data_dir) as gw:
        found = console_auth.list_operators(gw, agency)
    if as_json:
        emit_json(found)
        return
    for op in found:
        say(_show(op))


def _set(username: str, data_dir: Any, as_json: bool, *, disabled: bool) -> None:
    from gateway import console_auth

    with gateway_at(data_dir) as gw:
        shown = console_auth.set_disabled(gw, username=username, disabled=disabled, actor=ACTOR)
    if as_json:
        emit_json(shown)
        return
    say(_show(shown) + (" · 已停用，会话已结束" if disabled else " · 已启用"))


@operator_app.command("disable")
def operator_disable(
    username: Annotated[str, typer.Argument(help="the operator's username")],
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: JsonOut = False,
) -> None:
    """Disable an operator; its sessions end at once. 停用工作台操作员"""
    _set(username, data_dir, as_json, disabled=True)


@operator_app.command("enable")
def operator_enable(
    username: Annotated[str, typer.Argument(help="the operator's username")],
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: JsonOut = False,
) -> None:
    """Enable an operator again (after a lockout: its failed count restarts). 启用工作台操作员"""
    _set(username, data_dir, as_json, disabled=False)
