"""A frozen issuing city (issue 11, bounded staleness), on real ``ecert serve`` processes.

The finding: 杭州 frozen (SIGSTOP) just after a revocation; 苏州 kept answering VALID from the
status list it held, for as long as that list's ``exp`` (24 h by default), although its ``ttl``
was 30 s. Now 苏州 answers VALID only while the list it holds is within the bound, then
STATUS_UNAVAILABLE saying how old its status data is, and never VALID again while 杭州 stays
frozen. Once 杭州 is let go (SIGCONT), 苏州 fetches the new list and answers REVOKED.

The bound is made short through the documented setting: 苏州 is restarted with
``ECERT_STATUS_MAX_AGE`` (the business licence's own bound, 24 h, is stricter than nothing but
far too long for a test). Every wait is bounded; 杭州 is always let go in a ``finally``, and
the federation stops every process it started.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from cli.federation_demo_procs import STOP_GRACE, DemoFederation, DemoGateway, spawn, wait_ready
from tests.federation.helpers import (
    http_client,
    issue,
    reason_is,
    revoke,
    running_federation,
    verify,
)
from tests.gateway.holders import fresh_subject

pytestmark = pytest.mark.slow

REFRESH = 2  # ECERT_FEDERATION_REFRESH, seconds
TTL = 2  # ECERT_STATUS_TTL: 苏州 fetches 杭州's list about this often
BOUND = 6  # 苏州's ECERT_STATUS_MAX_AGE, seconds
SLACK = 10.0  # seconds of scheduling and HTTP on a busy 2-core runner
READY = 60.0


@pytest.fixture(scope="module")
def fed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoFederation]:
    base = tmp_path_factory.mktemp("frozen") / "demo"
    with running_federation(base, refresh=REFRESH, status_ttl=TTL) as running:
        _restart_with(running["suzhou"], ECERT_STATUS_MAX_AGE=str(BOUND))
        yield running


def _restart_with(g: DemoGateway, **env: str) -> None:
    """Stop ``g``'s process (SIGTERM, bounded) and start it again with ``env`` added."""
    assert g.proc is not None
    g.proc.send_signal(signal.SIGTERM)
    try:
        g.proc.wait(timeout=STOP_GRACE)
    except subprocess.TimeoutExpired:
        g.proc.kill()
        g.proc.wait(timeout=STOP_GRACE)
    if g._log_handle is not None:
        g._log_handle.close()
    g.env.update(env)
    spawn(g)
    wait_ready({g.key: g}, READY)


def _answer(http: httpx.Client, g: DemoGateway, qr: str) -> dict[str, Any]:
    body = verify(http, g, qr)
    return {"at": time.monotonic(), "reason": body["reason"], **body["freshness"],
            "detail": body["detail"]}  # fmt: skip


def test_a_city_frozen_after_a_revocation_is_not_vouched_for_past_the_bound(
    fed: DemoFederation,
) -> None:
    hz, sz = fed["hangzhou"], fed["suzhou"]
    with http_client() as http:
        licence = issue(http, hz, "business-licence", fresh_subject("business-licence"))
        reason_is(http, sz, licence["qr_text"], "VALID")  # 苏州 holds 杭州's list
        before = verify(http, sz, licence["qr_text"])["freshness"]
        assert before["status_max_age_seconds"] == BOUND  # 苏州 runs with the bound it was given
        assert hz.proc is not None
        revoke(http, hz, "business-licence", licence["id"])
        hz.proc.send_signal(signal.SIGSTOP)
        frozen_at = time.monotonic()
        answers: list[dict[str, Any]] = []
        try:
            deadline = frozen_at + BOUND + TTL + SLACK
            while time.monotonic() < deadline:
                answers.append(_answer(http, sz, licence["qr_text"]))
                if (
                    answers[-1]["reason"] != "VALID"
                    and len(answers) >= 5
                    and all(a["reason"] != "VALID" for a in answers[-5:])
                ):
                    break  # five answers in a row past the bound: it stays so
                time.sleep(0.2)
        finally:
            hz.proc.send_signal(signal.SIGCONT)
        thawed = reason_is(http, sz, licence["qr_text"], "REVOKED", since=time.monotonic())

    reasons = [a["reason"] for a in answers]
    valid = [a for a in answers if a["reason"] == "VALID"]
    after = reasons[len(valid) :]
    print(
        f"\n苏州 while 杭州 was frozen: {len(valid)} VALID (ages "
        f"{[a['status_age_seconds'] for a in valid]} s, bound {BOUND} s), then "
        f"{len(after)} × {sorted(set(after))}; REVOKED {thawed:.1f} s after 杭州 was let go"
    )
    assert after, (
        f"苏州 never stopped answering VALID within {BOUND + TTL + SLACK:.0f} s: {answers}"
    )
    assert reasons[: len(valid)] == ["VALID"] * len(valid)  # never VALID after the first refusal
    for a in valid:  # VALID only while the status data was within the bound
        assert a["status_age_seconds"] <= BOUND == a["status_max_age_seconds"], a
    first = answers[len(valid)]
    if first["reason"] == "REVOKED":  # 苏州 fetched the new list in the instant before SIGSTOP
        assert set(after) == {"REVOKED"}, answers
        return
    assert set(after) == {"STATUS_UNAVAILABLE"}, answers
    for a in answers[len(valid) :]:  # each says how old the status data is, past the bound
        assert a["status_age_seconds"] > BOUND == a["status_max_age_seconds"], a
        assert f"{a['status_age_seconds']} s old" in a["detail"], a
    refused_after = first["at"] - frozen_at
    assert refused_after <= BOUND + TTL + SLACK, refused_after
