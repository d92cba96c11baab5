"""Usage errors (unknown option, missing argument, bad value …) said zh-CN first, English beside.

typer's parser (its private copy of click) raises a usage error with an English message and,
when it has one, the command's context. :func:`show` prints the command's usage line, the error
as one ``error: 中文 · English`` line, and the hint to ``--help`` in both languages, all to
stderr. The Chinese names the kind of mistake and the option or argument concerned; the
English is the parser's own message, which also carries the detail (the value found, the
choices) that is not translated.

Deliberately not here: errors of a command that ran (:func:`cli.app._one_line`), and the help
pages themselves (typer's).
"""

from __future__ import annotations

import re
import sys
from typing import Any

_EXTRA = re.compile(r"^Got unexpected extra argument(?:\(s\)|s)? \((?P<extra>.*)\)$")
_NO_COMMAND = re.compile(r"^No such command (?P<name>.+)\.$")


def _hint(exc: Any) -> str:
    """The option or argument an error names (``'--port'``), or ``""``."""
    hint = getattr(exc, "param_hint", None)
    if hint is not None:
        return hint if isinstance(hint, str) else " / ".join(repr(h) for h in hint)
    param = getattr(exc, "param", None)
    if param is not None:
        return str(param.get_error_hint())
    return ""


def in_chinese(exc: Any) -> str:
    """What kind of mistake ``exc`` (one of typer's click exceptions) is, in Chinese."""
    kind = type(exc).__name__
    if kind == "NoSuchOption":
        zh = f"没有这个选项 {exc.option_name}"
        if exc.possibilities:
            zh += f"（可能是：{'、'.join(sorted(exc.possibilities))}）"
        return zh
    if kind == "BadOptionUsage":
        return f"选项 {exc.option_name} 的用法有误"
    if kind == "MissingParameter":
        param_type = exc.param_type or getattr(exc.param, "param_type_name", None)
        what = {"option": "选项", "argument": "参数"}.get(str(param_type), "参数")
        return f"缺少{what} {_hint(exc)}".rstrip()
    if kind == "BadParameter":
        hint = _hint(exc)
        return f"{hint} 的值无效" if hint else "值无效"
    if kind == "BadArgumentUsage":
        return "参数的用法有误"
    if kind == "FileError":
        return f"无法打开文件 {exc.ui_filename}"
    message = str(getattr(exc, "message", ""))
    if found := _NO_COMMAND.match(message):
        return f"没有这个命令 {found['name']}"
    if found := _EXTRA.match(message):
        return f"多余的参数 {found['extra']}"
    return "用法有误"


def error_line(exc: Any) -> str:
    """``error: 中文 · English``, one line."""
    english = str(exc.format_message()).splitlines()[0] if str(exc.format_message()) else ""
    return f"error: {in_chinese(exc)} · {english}"


def show(exc: Any) -> None:
    """Print ``exc`` to stderr: the usage line, the one-line error, and where to find help."""
    if type(exc).__name__ == "NoArgsIsHelpError":  # a group named without a command: its help
        exc.show()
        return
    ctx = getattr(exc, "ctx", None)
    lines = []
    if ctx is not None:
        lines.append(ctx.get_usage())
    lines.append(error_line(exc))
    if ctx is not None and ctx.command.get_help_option(ctx) is not None:
        command = f"{ctx.command_path} {ctx.help_option_names[0]}"
        lines.append(f"运行 `{command}` 查看用法 · Try '{command}' for help.")
    sys.stderr.write("\n".join(lines) + "\n")
