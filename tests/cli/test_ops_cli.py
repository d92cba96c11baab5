"""Issue 12's CLI problems, each with a test that failed before:

- "`ecert serve` prints 网关已启动 before failing to bind a busy port";
- "`ecert agency list` in the wrong folder creates a database and exits 0";
- "no `--version`";
- "CLI errors are English only" (typer's usage errors included);
- and `ecert serve` writes the JSON access log by default.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, inspect

from tests.cli.conftest import City
from tests.cli.helpers import TIMEOUT, Result, Served, cli_env, ecert, ecert_many, free_port
from tests.conftest import PG_ENV, pg_database

pytestmark = pytest.mark.slow

# Commands that only read (and one that changes an existing gateway): none may make a gateway.
READ_ONLY = {
    "agency list": ["agency", "list"],
    "agency key list": ["agency", "key", "list", "--agency", "a1"],
    "key list": ["key", "list"],
    "city show": ["city", "show"],
    "audit verify": ["audit", "verify"],
    "audit alarms": ["audit", "alarms"],
    "federation pending": ["federation", "pending"],
    "federation list": ["federation", "list"],
    "verifier list": ["verifier", "list"],
    "region trust-mark list": ["region", "trust-mark", "list"],
    "backup": ["backup", "never.tar"],
    "suspend (writes)": ["suspend", "some-id", "--reason", "核查"],
}


def _is_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def _zh_then_en(line: str) -> tuple[str, str]:
    """``error: 中文 · English`` split in two; the Chinese part must say it in Chinese and the
    English part must not."""
    assert line.startswith("error: "), line
    zh, sep, en = line.removeprefix("error: ").partition(" · ")
    assert sep, f"no ' · ' between the Chinese and the English: {line}"
    assert _is_chinese(zh), line
    assert en.strip(), line
    assert not _is_chinese(en), line
    return zh, en


def test_version_prints_the_installed_version_without_loading_the_gateway() -> None:
    shown = ecert("--version")
    assert shown.returncode == 0, shown
    assert shown.stdout == f"ecert-gateway {version('ecert-gateway')}\n"
    probe = (
        "import sys\nfrom cli.main import main\ntry:\n    main(['--version'])\n"
        "except SystemExit as exc:\n    loaded = [m for m in ('typer', 'sqlalchemy', "
        "'gateway.core', 'fastapi') if m in sys.modules]\n"
        "    print('exit', exc.code, 'loaded', ','.join(loaded) or '-')\n"
    )
    ran = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=TIMEOUT, env=cli_env(), check=False)  # fmt: skip
    assert ran.stdout.splitlines()[-1] == "exit 0 loaded -", ran


@pytest.fixture
def busy_port() -> Iterator[int]:
    port = free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        yield port


def test_serve_on_a_busy_port_says_so_in_one_line_and_never_that_it_started(
    city: City, busy_port: int, tmp_path: Path
) -> None:
    demo_dir = tmp_path / "demo"
    port = str(busy_port)
    serve, demo = ecert_many([
        ["serve", *city.args(), "--host", "127.0.0.1", "--port", port],
        ["demo", "--data-dir", str(demo_dir), "--host", "127.0.0.1", "--port", port],
    ])  # fmt: skip
    for result in (serve, demo):
        line = result.one_error_line()  # exit 1, one line, Chinese in it
        assert "端口已被占用" in line, result
        assert f"127.0.0.1:{port}" in line, result
        assert "port in use" in line, result
        _zh_then_en(line)
        assert "网关已启动" not in result.stdout, result
        assert "started" not in result.stdout, result
        assert "Traceback" not in result.stderr
    assert not demo_dir.exists()  # the demo made nothing


def test_read_only_commands_in_a_folder_without_a_gateway_make_nothing_and_say_so(
    tmp_path: Path,
) -> None:
    absent = tmp_path / "absent"
    empty = tmp_path / "empty"
    empty.mkdir()
    names = list(READ_ONLY)
    runs = ecert_many(
        [[*READ_ONLY[n], "--data-dir", str(absent)] for n in names]
        + [["agency", "list"]],  # no --data-dir: the default, .ecert, in the working folder
        cwd=empty,
    )
    for name, result in zip([*names, "agency list (default folder)"], runs, strict=True):
        line = result.one_error_line()
        assert "此处没有网关" in line, (name, result)
        assert "no gateway here" in line, (name, result)
        assert "ecert init" in line, (name, result)
        _zh_then_en(line)
    assert not absent.exists()
    assert list(empty.iterdir()) == []  # no .ecert, no gateway.db


@pytest.mark.skipif(not os.environ.get(PG_ENV), reason=f"needs {PG_ENV}")
def test_a_read_only_command_leaves_an_empty_postgresql_database_empty(tmp_path: Path) -> None:
    with pg_database(os.environ[PG_ENV]) as url:
        absent = tmp_path / "absent"
        env = {"ECERT_DATABASE_URL": url, "ECERT_KEY_PASSPHRASE": "x" * 16}
        result = ecert("agency", "list", "--data-dir", str(absent), env=env)
        line = result.one_error_line()
        assert "尚未初始化" in line, result
        assert "no gateway here" in line, result
        engine = create_engine(url)
        try:
            assert inspect(engine).get_table_names() == []
        finally:
            engine.dispose()
        assert not absent.exists()


USAGE = {
    "unknown option": (["agency", "list", "--colour"], "没有这个选项 --colour"),
    "missing option": (["init"], "缺少选项 '--city-code'"),
    "missing argument": (["issue-batch"], "缺少参数 'file'"),
    "bad value": (["serve", "--port", "abc"], "'--port' 的值无效"),
    "out of range": (["serve", "--port", "70000"], "'--port' 的值无效"),
    "unknown command": (["agnecy", "list"], "没有这个命令 'agnecy'"),
    "extra argument": (["city", "show", "extra"], "多余的参数 extra"),
}


@pytest.fixture(scope="module")
def usage_runs() -> dict[str, Result]:
    return dict(zip(USAGE, ecert_many([args for args, _ in USAGE.values()]), strict=True))


@pytest.mark.parametrize("case", list(USAGE))
def test_usage_errors_say_it_in_chinese_first_with_the_english_beside(
    usage_runs: dict[str, Result], case: str
) -> None:
    result, expected = usage_runs[case], USAGE[case][1]
    assert result.returncode == 2, result
    assert result.stdout == "", result
    assert "Traceback" not in result.stderr, result
    lines = result.stderr_lines
    assert lines[0].startswith("Usage: ecert"), result
    (error,) = [line for line in lines if line.startswith("error: ")]
    zh, _ = _zh_then_en(error)
    assert zh.startswith(expected), error
    assert lines[-1].startswith("运行 `ecert"), result
    assert "Try 'ecert" in lines[-1], result


def test_serve_writes_a_json_access_log_line_a_request(city: City, tmp_path: Path) -> None:
    with Served(["serve", *city.args()], tmp_path) as served:
        answer = httpx.get(f"{served.url}/api/v1/credentials/{city.credential['id']}",
                           headers={"X-Request-ID": "walkthrough-1"}, timeout=10)  # fmt: skip
        assert answer.status_code == 401
        assert answer.headers["x-request-id"] == "walkthrough-1"
    lines = [json.loads(x) for x in served.output().splitlines() if x.startswith("{")]
    (entry,) = [e for e in lines if e["request_id"] == "walkthrough-1"]
    assert entry["route"] == "/api/v1/credentials/{credential_id}"
    assert entry["method"] == "GET"
    assert entry["status"] == 401
    assert city.credential["id"] not in served.output().split("网关已启动")[1]
