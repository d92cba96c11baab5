"""Smoke tests for the benchmark and load-test code: every building block runs, at tiny sizes.

The bench runs end to end at scale 0.01 (a real ``ecert serve`` subprocess included), so CI
proves ``make bench`` works; the load-test helpers are checked without starting locust.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import pytest

from loadtests import bench, bench_verify
from loadtests.common import PUBLIC_URL, garbage_texts, licence_subject, percentile
from loadtests.run_load import (
    PUBLIC_ALL,
    TOTAL,
    format_stats,
    parse_duration,
    read_stats,
    server_errors,
)
from verify.reasons import Reason
from verify.verifier import verify_scanned


def test_bench_reports_every_row_at_tiny_scale() -> None:
    report = bench.run(scale=0.01)

    assert [r.name for r in report.rows] == list(bench.ROW_NAMES)
    for row in report.rows:
        assert row.rate > 0, row
    for name in (bench.LIB_BARE, bench.LIB_QR, bench.HTTP_VERIFY, bench.BATCH_ISSUE):
        row = report.row(name)
        assert row.baseline is not None, row
        assert row.baseline > 0, row
        assert row.ratio is not None, row
        assert row.ratio > 0, row
    assert report.row(bench.LIB_BARE).passed is not None
    assert report.row(bench.HTTP_VERIFY).passed, report.row(bench.HTTP_VERIFY).note

    steps = dict(report.breakdown)
    assert steps[bench.RAW_STEP] > 0
    assert steps[bench.QR_STEP] > 0

    qr_names = {q.name for q in report.qr}
    assert {"business-licence", "food-business-permit", "resident-eid"} <= qr_names
    assert any("30-character" in name for name in qr_names)
    for q in report.qr:
        assert 1 <= min(q.versions) <= max(q.versions) <= 40, q
        assert q.text_chars > q.token_chars > 0, q

    text = report.format()
    for name in bench.ROW_NAMES:
        assert name in text
    assert "RESULT: " in text
    assert all(f"FAIL  {name}" in text for name in report.failures)


def test_sizes_scale_down_and_refuse_nonsense() -> None:
    tiny, full = bench.Sizes.for_scale(0.01), bench.Sizes.for_scale(1.0)
    assert full.batch_total == 10_000
    assert full.batch_chunk == 1_000
    assert tiny.batch_total < full.batch_total
    assert tiny.rounds >= 1
    with pytest.raises(ValueError, match="scale"):
        bench.Sizes.for_scale(0)


def test_interleaved_rates_are_positive() -> None:
    rates = bench.interleaved([lambda: None, lambda: sum(range(50))], 0.01, slices=2)
    assert len(rates) == 2
    assert all(r > 0 for r in rates)


def test_garbage_is_never_valid_and_never_raises(tmp_path: Path) -> None:
    with bench.local_city(tmp_path) as city:
        _, text = bench._issue(city, "business-licence", licence_subject(1))
        assert text.startswith(PUBLIC_URL)
        state = city.gw.state
        now = city.gw.clock()
        ok = verify_scanned(text, trust=state.trust, statuses=state.statuses, now=now)
        assert ok.reason is Reason.VALID
        garbage = garbage_texts(text)
        reasons = {
            verify_scanned(g, trust=state.trust, statuses=state.statuses, now=now).reason
            for g in garbage
        }
    assert Reason.VALID not in reasons
    assert {Reason.MALFORMED, Reason.BAD_SIGNATURE, Reason.UNKNOWN_ISSUER} <= reasons


@pytest.mark.parametrize(
    ("text", "seconds"), [("30", 30), ("30s", 30), ("2m", 120), ("1h5m", 3900), ("1m30s", 90)]
)
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0s", "soon", "5x"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        parse_duration(text)


def test_locust_stats_table() -> None:
    def row(kind: str, name: str, count: int, failed: int) -> dict[str, str]:
        return {
            "Type": kind,
            "Name": name,
            "Request Count": str(count),
            "Failure Count": str(failed),
            "Requests/s": "12.5",
            "50%": "4",
            "95%": "N/A" if count == 0 else "9",
            "99%": "15",
        }

    stats = read_stats(
        [
            row("POST", "verify: valid", 850, 0),
            row("POST", "issue", 150, 3),
            row("", TOTAL, 1000, 3),
        ]
    )
    assert [s.name for s in stats] == ["POST verify: valid", "POST issue", TOTAL]
    assert stats[-1].failure_ratio == pytest.approx(0.003)
    table = format_stats(stats)
    assert "POST verify: valid" in table
    assert "85.0%" in table
    assert table.splitlines()[-1].startswith(TOTAL)


def test_public_gets_row_comes_last_before_the_total() -> None:
    def row(kind: str, name: str, count: int) -> dict[str, str]:
        values = {"Requests/s": "1", "50%": "2", "95%": "5", "99%": "9"}
        return {
            "Type": kind,
            "Name": name,
            "Request Count": str(count),
            "Failure Count": "0",
        } | values

    long_name = "public /agencies/{id}/.well-known/openid-federation"
    stats = read_stats(
        [
            row("POST", "issue", 300),
            row("GET", long_name, 100),
            row("GET", "public /trust/list", 100),
            row("", TOTAL, 500),
        ]
    )
    stats += read_stats([row("GET", "public (all)", 200)])  # the locustfile's merged row

    lines = format_stats(stats).splitlines()
    assert lines[-3].startswith(PUBLIC_ALL)
    assert "40.0%" in lines[-3]  # of all requests, not of the public ones
    assert lines[-1].startswith(TOTAL)
    assert "100.0%" in lines[-1]
    assert len({len(line) for line in lines}) == 1  # the long name widens every line alike


def test_percentile() -> None:
    assert percentile([3.0, 1.0, 2.0, 4.0], 50) == pytest.approx(2.5)
    assert percentile([1.0], 99) == 1.0


def test_server_errors_keeps_one_per_kind_with_our_frames() -> None:
    boom = [
        "Traceback (most recent call last):",
        '  File "/venv/lib/site-packages/fastapi/routing.py", line 9, in app',
        "    await f()",
        '  File "/repo/gateway/issuance.py", line 267, in issue',
        "    _write()",
        "ValueError: boom",
    ]
    pool = [
        "Traceback (most recent call last):",
        '  File "y.py", line 2, in h',
        "TimeoutError: pool",
    ]
    log = "\n".join(["INFO started", *boom, "INFO 500", *boom, *pool, "INFO done"])
    found = server_errors(log)
    assert [block.splitlines()[0] for block in found] == ["ValueError: boom", "TimeoutError: pool"]
    assert 'at File "/repo/gateway/issuance.py", line 267, in issue' in found[0]
    assert "site-packages" not in found[0]
    assert server_errors("INFO all quiet") == []


def test_verify_bench_reports_its_rows_at_tiny_scale() -> None:
    rows = bench_verify.rows(scale=0.01)

    assert [r.name for r in rows] == list(bench_verify.ROW_NAMES)
    raw = rows[0]
    assert raw.rate > 0
    if shutil.which("wrk") is None:  # the rows say so; nothing to judge
        assert all(r.note == "wrk missing" for r in rows[1:])
        return
    for row in rows[1:]:
        assert row.rate > 0, row
        assert row.baseline == raw.rate
        assert row.ratio is not None
        assert row.ratio > 0, row
        assert "0 errors" in row.note, row.note
    assert (rows[1].passed is not None) == (bench_verify.cores() is not None)  # 2 CPUs: judged
    assert "access log on" in rows[2].name
    assert rows[2].passed is None


def test_the_wrk_script_posts_each_body_in_turn() -> None:
    script = bench_verify.lua_script("/api/v1/verify", [b'{"qr":"a"}', b'{"qr":"b"}'])
    assert '[==[{"qr":"a"}]==]' in script
    assert '"POST", "/api/v1/verify"' in script
    with pytest.raises(ValueError, match="closer"):
        bench_verify.lua_script("/x", [b"]==]"])
