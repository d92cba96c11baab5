"""``ecert serve`` and ``ecert demo`` exit within 5 s of SIGTERM or SIGINT, whatever a peer or a
client is doing (issue 8, "a shutdown that ends"). Real processes on loopback; the exit times
measured are printed (visible with ``-s``).

- mid-sync on a peer that never answers (a loopback server of the test that accepts and stays
  silent, or drips a byte every 4 s): SIGINT used to wait for the sync thread (asyncio's
  default executor is joined at loop close), for ever with a dripping peer;
- a client that sent its headers and half its body: the process used to stay alive, its port
  closed, until the client gave up.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from gateway import agencies, federation
from gateway.core import Gateway
from gateway.settings import load_settings
from tests.cli.conftest import City
from tests.cli.helpers import FINISHED, Served, stall_mid_body
from tests.gateway.stalled_peer import DRIP, SILENT, StalledPeer
from trust.keys import SigningKey

pytestmark = pytest.mark.slow

BOUND = 5.0  # seconds from the signal until the process is gone
WAIT = 30.0  # seconds: the bound of every wait for something to start


def _federated_city(data_dir: Path, port: int, superior: str) -> None:
    """A city that joined ``superior`` (its keys pinned directly, no HTTP)."""
    settings = load_settings(data_dir=data_dir)
    settings.ensure_passphrase()
    gw = Gateway.open(settings)
    try:
        agencies.init_city(gw, code="330100", name="杭州市", public_url=f"http://127.0.0.1:{port}",
                           actor="test")  # fmt: skip
        federation.init(
            gw, role=federation.CITY, region_id="yrd", region_name="长三角", superior_id=superior,
            superior_jwks=[dict(SigningKey.generate().public.jwk)], actor="test",
        )  # fmt: skip
    finally:
        gw.close()


def _gone_after(served: Served, sig: signal.Signals) -> float:
    """Send ``sig``; the seconds until the process is gone (fails after :data:`BOUND`)."""
    assert served.proc is not None
    sent = time.monotonic()
    served.proc.send_signal(sig)
    try:
        served.proc.wait(timeout=BOUND)
    except subprocess.TimeoutExpired:
        raise AssertionError(
            f"still running {BOUND:.0f}s after {sig.name}:\n{served.output()[-3000:]}"
        ) from None
    return time.monotonic() - sent


@pytest.mark.parametrize(
    ("mode", "sig"), [(SILENT, signal.SIGTERM), (DRIP, signal.SIGINT)], ids=["silent", "drip"]
)
def test_a_gateway_mid_sync_on_a_peer_that_never_answers_exits_within_5s(
    tmp_path: Path, mode: str, sig: signal.Signals
) -> None:
    with StalledPeer(mode, every=4.0) as peer:
        data = tmp_path / "data"
        served = Served(["serve", "--data-dir", str(data)], tmp_path,
                        env={"ECERT_FEDERATION_REFRESH": "1"})  # fmt: skip
        _federated_city(data, served.port, peer.url)
        with served:
            peer.wait_for_request(timeout=WAIT)  # the sync is mid-fetch, never answered
            seconds = _gone_after(served, sig)
            print(f"\n`ecert serve` mid-sync, {mode} peer: gone {seconds:.2f}s after {sig.name}")
            assert FINISHED in served.output(), served.output()


@pytest.mark.parametrize(
    ("command", "sig"), [("serve", signal.SIGTERM), ("demo", signal.SIGINT)], ids=["serve", "demo"]
)
def test_a_client_stalled_mid_body_does_not_hold_the_shutdown(
    tmp_path: Path, city: City, command: str, sig: signal.Signals
) -> None:
    where = city.args() if command == "serve" else ["--data-dir", str(tmp_path / "demo")]
    with Served([command, *where], tmp_path) as served:
        client = stall_mid_body(served.port)
        try:
            seconds = _gone_after(served, sig)
        finally:
            client.close()
        print(f"\n`ecert {command}` with a client stalled mid-body: gone {seconds:.2f}s after "
              f"{sig.name}")  # fmt: skip
        assert FINISHED in served.output(), served.output()
