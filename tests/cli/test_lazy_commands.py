"""``ecert`` imports a command's module only when that command runs: ``verify --gateway``
(what a scanner script calls once a scan) loads neither SQLAlchemy, FastAPI nor the gateway."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import typer

from cli.app import load_command
from cli.main import COMMANDS
from tests.cli.helpers import cli_env, ecert

HEAVY = ("sqlalchemy", "fastapi", "uvicorn", "gateway.core", "PIL", "zxingcpp", "zint")


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_loads_under_its_name(name: str) -> None:
    command = load_command(name)
    assert command.name == name
    module, attribute = COMMANDS[name]
    target = getattr(sys.modules[module], attribute)
    assert isinstance(command, typer.core.TyperGroup) is isinstance(target, typer.Typer)


SOLO = typer.Typer()  # a group with one command (``trust`` was one, before ``trust fetch``)


@SOLO.command("export")
def _solo_export() -> None:
    """The group's only command."""


def test_a_group_with_one_command_stays_a_group(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(COMMANDS, "solo", (__name__, "SOLO"))
    assert isinstance(load_command("solo"), typer.core.TyperGroup)
    assert load_command("solo").list_commands(None) == ["export"]
    assert load_command("trust").list_commands(None) == ["export", "fetch"]


def test_verify_at_a_gateway_imports_nothing_heavy() -> None:
    # Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
    script = textwrap.dedent(
        f"""
        import sys
        from cli.main import main
        try:
            main(["verify", "--gateway", "http://127.0.0.1:9", "--qr-text", "x"])
        except SystemExit as exc:
            print(exc.code, [m for m in {HEAVY!r} if m in sys.modules])
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env=cli_env(),
        check=False,
    )
    assert done.stdout.strip() == "3 []", done.stderr
    assert done.stderr.startswith("error: 无法连接 http://127.0.0.1:9")
    assert " · could not reach http://127.0.0.1:9" in done.stderr


def test_help_lists_every_command_in_order() -> None:
    result = ecert("--help")
    assert result.returncode == 0, result
    shown = [line.split()[1] for line in result.stdout.splitlines() if line.startswith("│ ")]
    listed = [name for name in shown if name in COMMANDS]
    assert listed == list(COMMANDS)
