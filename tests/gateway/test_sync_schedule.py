"""When the next federation sync runs: a pure function of the interval, the failures in a row and
a jitter, tested without a clock or a loop."""

from __future__ import annotations

import pytest

from gateway.trustsync import MAX_BACKOFF, SyncHealth, SyncReport, next_sync_in

INTERVAL = 60.0
MIDDLE = 0.5  # the jitter that spreads nothing: 0.8 + 0.4 * 0.5 == 1


@pytest.mark.parametrize(
    ("failures", "factor"), [(0, 1), (1, 2), (2, 4), (3, MAX_BACKOFF), (10_000, MAX_BACKOFF)]
)
def test_each_failing_sync_doubles_the_wait_up_to_the_bound(failures: int, factor: int) -> None:
    assert next_sync_in(INTERVAL, failures, MIDDLE) == pytest.approx(INTERVAL * factor)


def test_jitter_spreads_the_wait_by_a_fifth_either_way() -> None:
    assert next_sync_in(INTERVAL, 0, 0.0) == pytest.approx(0.8 * INTERVAL)
    assert next_sync_in(INTERVAL, 0, 0.999999) == pytest.approx(1.2 * INTERVAL)


@pytest.mark.parametrize("jitter", [-0.1, 1.0, float("nan")])
def test_a_jitter_outside_the_unit_interval_is_refused(jitter: float) -> None:
    with pytest.raises(ValueError, match=r"expected a jitter in \[0, 1\)"):
        next_sync_in(INTERVAL, 0, jitter)


def test_failures_in_a_row_count_only_syncs_that_reached_nobody() -> None:
    health = SyncHealth()
    unreachable = SyncReport(failures={"anchor": "connection refused"})
    partly = SyncReport(leaves=["https://hz.example/agencies/amr"], failures={"x": "timeout"})
    health.record(unreachable, 1)
    health.record(unreachable, 2)
    assert health.consecutive_failures == 2
    assert next_sync_in(INTERVAL, health.consecutive_failures, MIDDLE) == INTERVAL * 4
    health.record(partly, 3)
    assert health.consecutive_failures == 0
