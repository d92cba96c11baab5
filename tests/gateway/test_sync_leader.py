"""One process of a city leads its federation sync (:mod:`gateway.cluster`): a PostgreSQL
advisory lock on a connection of its own, a ``flock`` beside a SQLite database. Two
:class:`Leadership` objects in one test stand for two processes (each its own connection or
open file); real processes killed: ``tests/cli/test_serve_workers.py``."""

from __future__ import annotations

import os
import time

from prometheus_client.parser import text_string_to_metric_families

from gateway.cluster import Leadership, connect
from gateway.core import Gateway
from tests.gateway.helpers import client_for

WAIT = 15.0  # seconds: the bound of a wait for the sync loop's first wake-up (2 s ± 20 %)


def test_one_leads_and_another_takes_over_when_it_lets_go(db_url: str) -> None:
    first, second = Leadership(db_url), Leadership(db_url)
    try:
        assert first.lead() is True
        assert second.lead() is False
        assert first.lead() is True  # a held lead is kept
        assert second.lead() is False
        first.close()
        assert first.lead() is False  # closed for good
        assert second.lead() is True
    finally:
        first.close()
        second.close()


def test_a_leader_whose_session_dies_loses_the_lead_to_another(gw: Gateway) -> None:
    """What PostgreSQL does when the leader's process dies: its session ends, and the lock with
    it. The old leader, if it lives on, finds out on its next look and follows."""
    if gw.engine.dialect.name != "postgresql":
        return  # a SQLite flock ends only with its process: tests/cli/test_serve_workers.py
    url = gw.settings.db_url
    first, second = Leadership(url), Leadership(url)
    try:
        assert first.lead() is True
        with connect(url) as admin:
            (held,) = admin.execute(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
            ).fetchone() or (None,)
            assert held is not None
            admin.execute("SELECT pg_terminate_backend(%s)", (held,))
        assert second.lead() is True
        assert first.lead() is False
    finally:
        first.close()
        second.close()


def test_healthz_says_which_process_answered_and_that_it_leads(gw: Gateway) -> None:
    with client_for(gw) as client:
        deadline = time.monotonic() + WAIT
        while True:
            shown = client.get("/healthz").json()["process"]
            assert shown["pid"] == os.getpid()
            if shown["sync_leader"]:
                break
            assert time.monotonic() < deadline, f"not leading after {WAIT}s: {shown}"
            time.sleep(0.1)
        assert _leader_gauge(client.get("/metrics").text) == 1.0
    other = Leadership(gw.settings.db_url)
    try:
        assert other.lead() is True  # the app let go when it stopped
    finally:
        other.close()


def test_with_the_sync_off_no_process_leads(gw: Gateway) -> None:
    off = Gateway(settings=gw.settings.model_copy(update={"federation_sync": False}),
                  engine=gw.engine, types=gw.types, clock=gw.clock)  # fmt: skip
    with client_for(off) as client:
        time.sleep(3.0)  # past the first wake-up a sync loop would have had (2 s ± 20 %)
        assert client.get("/healthz").json()["process"]["sync_leader"] is False
        assert _leader_gauge(client.get("/metrics").text) == 0.0
    other = Leadership(gw.settings.db_url)
    try:
        assert other.lead() is True  # nobody took it
    finally:
        other.close()


def _leader_gauge(exposition: str) -> float:
    """The value of ``ecert_federation_sync_leader`` in a ``/metrics`` answer."""
    found = [
        sample.value
        for family in text_string_to_metric_families(exposition)
        if family.name == "ecert_federation_sync_leader"
        for sample in family.samples
    ]
    assert len(found) == 1, found
    return found[0]
