"""The HAProxy configuration of a city cluster: accepted by HAProxy, retries only what is safe."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from cli.cluster_procs import ClusterError, haproxy_config

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"


def test_haproxy_accepts_the_configuration(tmp_path: Path) -> None:
    if not Path(HAPROXY).exists():
        pytest.skip("needs HAProxy: apt-get install haproxy (.ci/run does)")
    config = tmp_path / "haproxy.cfg"
    config.write_text(haproxy_config(port=18080, gateways=[18081, 18082, 18083]), encoding="utf-8")
    done = subprocess.run(  # Debian's haproxy checking our configuration
        [HAPROXY, "-c", "-f", str(config)], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stderr + done.stdout


def test_each_process_is_health_checked_and_only_safe_requests_are_repeated() -> None:
    text = haproxy_config(port=18080, gateways=[18081, 18082])
    assert "    server gw1 127.0.0.1:18081 check\n" in text
    assert "    server gw2 127.0.0.1:18082 check\n" in text
    assert "http-check send meth GET uri /healthz" in text
    assert "option redispatch 1" in text
    assert "acl verify path /api/v1/verify /api/v1/verify/image /api/v1/verify/batch" in text
    assert "http-request disable-l7-retry if !safe_method !verify" in text  # issuance: never


@pytest.mark.parametrize("count", [0, 17])
def test_a_cluster_of_no_process_or_too_many_is_refused(count: int) -> None:
    with pytest.raises(ClusterError, match="expected 1 to 16 gateway processes"):
        haproxy_config(port=18080, gateways=list(range(20000, 20000 + count)))
