"""Ctrl-C to ``ecert demo-federation``: all six gateway processes are gone within 5 s, each
after a shutdown it completed, while 长三角 and its cities are mid-sync on a peer that never
answers and a client has sent half a body to 杭州 (issue 8, "a shutdown that ends").

The demo runs as ``make demo-federation`` runs it, on six free consecutive loopback ports, in a
session of its own: Ctrl-C is SIGINT to the whole process group (the demo and its six
children), as a terminal sends it. The peer is a loopback server of this test that 长三角 is
made to trust as another region (through its database, as ``ecert region trust-add`` does):
长三角 follows its root and its cities list it, so their syncs fetch from it and hang there.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from cli.federation_demo import DEMO_PASSPHRASE, SPECS
from gateway import federation
from gateway.core import Gateway
from gateway.settings import load_settings
from tests.cli.helpers import ECERT, FINISHED, cli_env, free_port, stall_mid_body
from tests.conftest import PG_ENV
from tests.gateway.stalled_peer import DRIP, StalledPeer
from trust.keys import SigningKey

pytestmark = pytest.mark.slow

BOUND = 5.0  # seconds from Ctrl-C until all six processes are gone
READY = 180.0  # seconds for the demo to set up and start six gateways on a busy machine
WAIT = 60.0  # seconds: the bound of every other wait for something to start
UNREACHABLE_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:1/none"  # 苏州 then uses SQLite


def _alive(pid: int) -> bool:
    """Running (not exited: a zombie has exited and only waits to be reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _wait_for_info(demo: subprocess.Popen[bytes], info: Path, log: Path) -> dict[str, Any]:
    deadline = time.monotonic() + READY
    while not info.exists():
        if demo.poll() is not None:
            raise AssertionError(f"the demo exited {demo.returncode}:\n{log.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"the demo was not ready in {READY:.0f}s")
        time.sleep(0.2)
    data: dict[str, Any] = json.loads(info.read_text(encoding="utf-8"))
    return data


def _trust_the_stalled_peer(yrd: dict[str, Any], peer: StalledPeer) -> None:
    settings = load_settings(data_dir=Path(yrd["data_dir"]), key_passphrase=DEMO_PASSPHRASE)
    gw = Gateway.open(settings)
    try:
        federation.trust_region(
            gw, anchor_id=peer.url, jwks=[dict(SigningKey.generate().public.jwk)], name="测试区",
            policy="yrd-accepts-stalled-licences", accepted_types=["business-licence"],
            actor="test",
        )  # fmt: skip
    finally:
        gw.close()


def test_ctrl_c_stops_all_six_gateways_within_5s(tmp_path: Path) -> None:
    log = tmp_path / "demo.log"
    args = [
        str(ECERT), "demo-federation", "--data-dir", str(tmp_path / "federation"),
        "--refresh", "1", "--status-ttl", "3", "--port", str(free_port(6)),
        "--postgres", os.environ.get(PG_ENV) or UNREACHABLE_POSTGRES,
    ]  # fmt: skip
    with StalledPeer(DRIP, every=4.0) as peer, log.open("wb") as out:
        demo = subprocess.Popen(
            args, cwd=tmp_path, env=cli_env(), stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        client: socket.socket | None = None
        try:
            info = _wait_for_info(demo, tmp_path / ".ecert" / "federation-demo.json", log)
            gateways = info["gateways"]
            assert sorted(gateways) == sorted(s.key for s in SPECS)
            pids = {key: int(g["pid"]) for key, g in gateways.items()}
            _trust_the_stalled_peer(gateways["yrd"], peer)
            peer.wait_for_request(timeout=WAIT)  # a sync is mid-fetch, never answered
            client = stall_mid_body(int(gateways["hangzhou"]["url"].rsplit(":", 1)[1]))

            pressed = time.monotonic()
            os.killpg(demo.pid, signal.SIGINT)  # Ctrl-C
            gone: dict[str, float] = {}
            while len(gone) < len(pids) and time.monotonic() - pressed < BOUND:
                for key, pid in pids.items():
                    if key not in gone and not _alive(pid):
                        gone[key] = time.monotonic() - pressed
                time.sleep(0.02)
            print("\nCtrl-C to ecert demo-federation, seconds until each gateway was gone: "
                  + ", ".join(f"{k} {s:.2f}" for k, s in sorted(gone.items())))  # fmt: skip
            running = sorted(set(pids) - set(gone))
            assert not running, f"still running {BOUND:.0f}s after Ctrl-C: {running}"
            for key, g in gateways.items():
                served = (Path(g["data_dir"]) / "serve.log").read_text(encoding="utf-8")
                assert FINISHED in served, f"{key} did not finish its shutdown:\n{served[-3000:]}"
            assert demo.wait(timeout=WAIT) == 0, log.read_text()
            assert peer.received() >= 1
        finally:
            if client is not None:
                client.close()
            if demo.poll() is None:
                os.killpg(demo.pid, signal.SIGKILL)
                demo.wait(timeout=WAIT)
