"""``ecert verify --offline``: a kiosk verifies from one bundle file with trust/ and verify/
alone (no issuing code, no database, no pydantic), showing what the signed trust list calls
each credential type and field."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from cli import kiosk
from cli.kiosk import UNDESCRIBED_TYPES, UsageProblem, verify_offline
from gateway import trustexport
from issuers.qr import render_png
from tests.cli.helpers import cli_env, ecert
from tests.conftest import FakeClock
from tests.gateway.federation_helpers import federation_of
from tests.gateway.test_federation_sync import _issue, _region, _sync
from tests.trust.test_trustlist_bundle import STATUS_LISTS
from tests.trust.test_trustlist_vectors import (
    AMR_KEY,
    LIST_KEY,
    NOW,
    SIGNED_V1,
    SIGNED_V2,
    TYPES,
    credential,
    trust_list,
)
from trust.jws import sign_compact
from trust.trustlist.bundle import TrustBundle
from trust.trustlist.document import TRUST_LIST_TYP, sign_trust_list

KIOSK_FORBIDDEN = (
    "issuers", "gateway", "sqlalchemy", "alembic", "pydantic", "pydantic_settings", "fastapi",
    "starlette", "typer", "click",
)  # fmt: skip


def _kiosk_run(bundle: Path, token: str) -> tuple[list[str], list[str], int, dict[str, Any]]:
    """In a fresh interpreter: the forbidden top-level packages loaded by the offline verifier
    itself (``cli.kiosk.verify_offline``), then by the whole ``ecert verify --offline --json``
    command; its exit code and its JSON answer."""
    script = textwrap.dedent(
        f"""
        import json, sys, time
        from pathlib import Path

        def loaded():
            return sorted({{m.split(".")[0] for m in sys.modules}} & set({KIOSK_FORBIDDEN!r}))

        from cli.kiosk import verify_offline
        verify_offline(Path({str(bundle)!r}), None, {token!r}, now=int(time.time()))
        by_the_verifier = loaded()
        from cli.main import main
        try:
            main(["verify", "--offline", "--trust-file", {str(bundle)!r}, "--json",
                  "--qr-text", {token!r}])
        except SystemExit as exc:
            print("PROBE", json.dumps([by_the_verifier, loaded(), exc.code]), file=sys.stderr)
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
    probe = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""
    assert probe.startswith("PROBE "), done.stderr
    by_the_verifier, by_the_command, code = json.loads(probe.removeprefix("PROBE "))
    return by_the_verifier, by_the_command, code, json.loads(done.stdout)


def test_the_offline_kiosk_shows_the_signed_names_and_loads_no_issuing_code(
    tmp_path: Path,
) -> None:
    clock = FakeClock(int(time.time()))  # the kiosk runs on the real clock
    with federation_of(tmp_path, clock) as fed:
        hz, sz, amr, _psb = _region(fed)
        token = _issue(hz, amr, "business-licence")
        _sync(fed, sz)
        bundle = tmp_path / "kiosk.json"
        bundle.write_bytes(trustexport.export_bundle(sz))

    by_the_verifier, by_the_command, code, shown = _kiosk_run(bundle, token)
    assert by_the_verifier == []
    assert by_the_command == []  # not even typer's pydantic: the kiosk path parses its own argv
    assert (code, shown["reason"]) == (0, "VALID"), shown
    cred = shown["credential"]
    assert cred["type"] == "business-licence"
    assert cred["type_name"] == {"zh": "营业执照", "en": "Business licence"}
    labels = {f["name"]: f["label"] for f in cred["fields"]}
    assert labels["name"] == {"zh": "名称", "en": "Name"}
    assert labels["uscc"] == {"zh": "统一社会信用代码", "en": "Unified social credit code"}
    assert [c["role"] for c in shown["issuer"]["chain"]] == ["agency", "city", "region"]


def _bundle(tmp_path: Path, trust_list_token: str) -> Path:
    path = tmp_path / "kiosk.json"
    path.write_bytes(
        TrustBundle(SIGNED_V2, (SIGNED_V1,), trust_list_token, STATUS_LISTS).to_bytes()
    )
    return path


def test_the_signed_description_is_what_the_kiosk_shows(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path, sign_trust_list(trust_list(types=TYPES), LIST_KEY))
    shown = verify_offline(bundle, None, credential(AMR_KEY), now=NOW)
    assert shown["reason"] == "VALID"
    assert shown["credential"]["type_name"] == {"zh": "营业执照", "en": "Business licence"}
    assert shown["credential"]["fields"][0]["label"] == {"zh": "名称", "en": "Name"}


def test_an_older_list_without_types_still_loads_and_the_kiosk_says_why_it_cannot_tell(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The QR names its type by QR code ("BL"), the entries by code ("business-licence"): only a
    # description ties them, so without one the kiosk answers UNSUPPORTED (never VALID on a
    # guess) and tells the operator how to get a bundle that describes its types.
    bundle = _bundle(tmp_path, sign_trust_list(trust_list(), LIST_KEY))
    shown = verify_offline(bundle, None, credential(AMR_KEY), now=NOW)
    assert (shown["reason"], shown["detail"]) == ("UNSUPPORTED", "unknown credential type 'BL'")
    assert shown["freshness"]["trust"] is not None  # the list itself loaded: its age is shown
    assert capsys.readouterr().err.strip() == UNDESCRIBED_TYPES


def test_an_oversize_types_member_is_refused_saying_what_was_expected(tmp_path: Path) -> None:
    raw = trust_list(types=TYPES).to_json()
    raw["types"] = raw["types"] * 200  # 400 types, signed by a genuine trust list key
    bundle = _bundle(tmp_path, sign_compact(raw, LIST_KEY, typ=TRUST_LIST_TYP))
    with pytest.raises(UsageProblem) as refused:
        verify_offline(bundle, None, credential(AMR_KEY), now=NOW)
    why = (
        "expected trust list types to be a list of at most 256 types, found "
        f"{str(raw['types'])[:80]}... (list)"
    )
    assert str(refused.value) == (
        f"信任文件 {bundle} 无法使用：{why} · unusable trust file {bundle}: {why}"
    )


@pytest.mark.parametrize(
    ("args", "zh", "en"),
    [
        (["--offline", "--qr-text", "x"], "需要 --trust-file", "needs --trust-file"),
        (
            ["--offline", "--trust-file", "t.json", "--gateway", "http://127.0.0.1:9",
             "--qr-text", "x"],
            "不能与 --gateway 同用", "no --gateway",
        ),
        (["--offline", "--trust-file", "t.json"], "只给出 --qr-text 或 --image", "exactly one"),
        (["--offline", "--trust-file", "t.json", "--qr-text", "x", "--bogus"], "参数有误",
         "bad arguments: unrecognized arguments: --bogus"),
        (["--offline", "--trust-file", "missing.json", "--qr-text", "x"], "无法读取",
         "cannot read missing.json"),
    ],
)  # fmt: skip
def test_the_kiosk_refuses_bad_arguments_in_chinese_and_english(
    tmp_path: Path, args: list[str], zh: str, en: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    done = ecert("verify", *args, cwd=tmp_path)
    assert done.returncode == 2, done
    (line,) = done.stderr_lines
    assert line.startswith("error: ")
    assert zh in line.split(" · ")[0], line
    assert en in line, line


def test_the_kiosk_reads_a_photo_of_the_code(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path, sign_trust_list(trust_list(types=TYPES), LIST_KEY))
    png = tmp_path / "qr.png"
    png.write_bytes(render_png(credential(AMR_KEY)))
    assert (
        kiosk.run(
            ["--offline", "--trust-file", str(bundle), "--image", str(png), "--json"], now=NOW
        )
        == kiosk.EXIT_VALID
    )


def test_help_for_the_offline_verifier_is_the_commands_own() -> None:
    assert not kiosk.wanted(["verify", "--offline", "--help"])
    assert not kiosk.wanted(["trust", "--offline"])
    assert kiosk.wanted(["verify", "--qr-text", "x", "--offline"])
    shown = ecert("verify", "--offline", "--help")
    assert shown.returncode == 0
    assert "--trust-file" in shown.stdout
