"""Error style: one ``error: …`` line and exit 1; ``--verbose`` adds the trace; usage errors
exit 2; ``ecert`` alone shows the help.

All the runs are independent, so the module starts them together once and the tests read
the results.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.conftest import CityTemplate, copy_city
from tests.cli.helpers import Result, ecert_many

pytestmark = pytest.mark.slow

COMMANDS = ("init", "serve", "demo", "agency", "key", "issue", "issue-batch", "verify", "revoke")


@pytest.fixture(scope="module")
def untouched_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory no command may create (it is only named on refused command lines)."""
    return tmp_path_factory.mktemp("usage") / "data"


@pytest.fixture(scope="module")
def runs(
    city_template: CityTemplate, tmp_path_factory: pytest.TempPathFactory, untouched_dir: Path
) -> dict[str, Result]:
    city = copy_city(city_template, tmp_path_factory.mktemp("errors") / "data")
    corrupt = tmp_path_factory.mktemp("corrupt")
    (corrupt / "gateway.db").write_text("not a database\n", encoding="utf-8")
    commands = {
        "failing": ["suspend", "no-such-id", *city.args(), "--reason", "核查"],
        "failing verbose": ["suspend", "no-such-id", *city.args(), "--reason", "核查", "--verbose"],
        "no arguments": [],
        "unknown option": ["agency", "list", "--data-dir", str(untouched_dir), "--colour"],
        "unreadable database": ["agency", "list", "--data-dir", str(corrupt)],
    }
    return dict(zip(commands, ecert_many(list(commands.values())), strict=True))


def test_a_failing_command_prints_one_line_and_verbose_adds_the_trace(
    runs: dict[str, Result],
) -> None:
    plain, verbose = runs["failing"], runs["failing verbose"]

    line = plain.one_error_line()
    assert "no-such-id" in line
    assert plain.stdout == ""

    assert verbose.returncode == 1, verbose
    assert verbose.stderr_lines[0] == "Traceback (most recent call last):"
    assert verbose.stderr_lines[-1] == line
    assert len(verbose.stderr_lines) > 3


def test_no_arguments_shows_the_help(runs: dict[str, Result]) -> None:
    shown = runs["no arguments"]
    assert "Usage: ecert [OPTIONS] COMMAND [ARGS]..." in shown.stdout
    assert all(f" {name} " in shown.stdout for name in COMMANDS), shown


def test_an_unknown_option_is_refused_before_touching_anything(
    runs: dict[str, Result], untouched_dir: Path
) -> None:
    refused = runs["unknown option"]
    assert refused.returncode != 0, refused
    assert refused.stdout == ""
    assert not untouched_dir.exists()  # `agency list` would have created it


@pytest.mark.parametrize("case", ["no arguments", "unknown option"])
def test_usage_errors_exit_2_without_a_traceback(runs: dict[str, Result], case: str) -> None:
    result = runs[case]
    assert "Traceback" not in result.stderr, result
    if case == "no arguments":
        assert result.returncode == 2, result  # usage shown, as for any usage error
        assert "Usage: ecert" in result.stdout + result.stderr, result
    else:
        assert result.returncode == 2, result
        assert "No such option: --colour" in result.stderr, result


def test_an_unreadable_database_is_one_error_line(runs: dict[str, Result]) -> None:
    assert "not a database" in runs["unreadable database"].one_error_line()
