"""The ``ecert`` typer app: each command's module imported only when that command runs."""

from __future__ import annotations

import importlib
import sys
import traceback
from typing import Any

import typer
from typer.core import TyperGroup

from cli.main import COMMANDS
from trust.errors import EcertError, FieldError

# typer vendors click privately (``typer._click``): its command and context types appear here as
# ``Any``, and only typer's public API builds them.


def load_command(name: str) -> Any:
    """Import the module of command ``name`` and build its (click) command."""
    module_name, attribute = COMMANDS[name]
    target = getattr(importlib.import_module(module_name), attribute)
    command: Any
    if isinstance(target, typer.Typer):
        command = typer.main.get_group(target)  # a group even when it has one command
    else:
        single = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
        single.command(name)(target)
        command = typer.main.get_command(single)
    command.name = name
    return command


class _LazyGroup(TyperGroup):
    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        found = super().get_command(ctx, cmd_name)
        if found is None and cmd_name in COMMANDS:
            found = load_command(cmd_name)
            self.add_command(found, cmd_name)
        return found


app = typer.Typer(
    name="ecert",
    cls=_LazyGroup,
    help="ecert-gateway: issue, show and verify signed e-certificates. 电子证照网关",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root(
    _version: bool = typer.Option(
        False,
        "--version",
        help="Print the installed version and exit (read before anything loads). 版本",
    ),
) -> None:
    # A callback makes typer build the group (with _LazyGroup) although no command is
    # registered on it directly. ``--version`` is answered by cli.main before typer loads;
    # declared here so that ``ecert --help`` lists it.
    pass


def _is_database_error(exc: BaseException) -> bool:
    # Only a command that opened a database can raise one; SQLAlchemy is loaded by then.
    errors = sys.modules.get("sqlalchemy.exc")
    return errors is not None and isinstance(exc, errors.SQLAlchemyError)


def _one_line(exc: BaseException) -> str:
    """One line, Chinese first: the kind of error in Chinese (or the message's own Chinese),
    then the English detail."""
    if _is_database_error(exc):
        orig = getattr(exc, "orig", None)
        return f"数据库出错 · database: {orig or exc}".splitlines()[0]
    detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, OSError):
        return f"无法读写文件 · {detail}"
    if any("\u4e00" <= ch <= "\u9fff" for ch in detail):
        return detail  # already says it in Chinese
    if isinstance(exc, FieldError):
        zh = "；".join(f"{e['field']}：{e['message']}" for e in exc.errors)
        return f"输入有误：{zh} · {detail}"
    from gateway.errors import in_chinese

    zh = in_chinese(exc) if isinstance(exc, EcertError) else "出错"
    return f"{zh} · {detail}"


def run(args: list[str], *, verbose: bool) -> None:
    """Run ``ecert`` ``args`` through the typer app; exits with the command's code."""
    try:
        code = app(args=args, prog_name="ecert", standalone_mode=False)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("error: 已中止 · aborted", err=True)
        sys.exit(1)
    except typer.TyperException as exc:  # usage errors: typer's own click exceptions
        from cli import usage_errors

        usage_errors.show(exc)  # zh-CN first, English beside
        sys.exit(int(getattr(exc, "exit_code", 2)))
    except Exception as exc:
        if not isinstance(exc, EcertError | OSError) and not _is_database_error(exc):
            raise
        if verbose:
            traceback.print_exc()
        typer.echo(f"error: {_one_line(exc)}", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
