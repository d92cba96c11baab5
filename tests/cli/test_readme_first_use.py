"""The README's first walkthrough, as a newcomer runs it against `make run`'s demo (issue 12):
the licence it issues is accepted, verifies, is revoked, and `curl /metrics` afterwards shows
those requests by route and status.

The README's own request body is read from the README, so a change to either the demo's sample
certificates or the README that breaks the walkthrough fails here (the demo's first sample
once held the README's USCC: one live licence per holder refused the README's first step).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx

from tests.cli.helpers import Served

README = Path(__file__).resolve().parents[2] / "README.md"


def _first_use_body() -> dict[str, object]:
    text = README.read_text(encoding="utf-8")
    section = text.split("## First use", 1)[1].split("\n## ", 1)[0]
    found = re.search(r"-d '(\{\"type\": \"business-licence\".*?\})'", section, re.S)
    assert found, "the README's first use no longer issues a business licence with curl -d"
    body: dict[str, object] = json.loads(found.group(1))
    return body


def test_the_readme_first_use_works_on_the_demo_and_metrics_show_it(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    with Served(["demo", "--data-dir", str(data)], tmp_path) as demo:
        info = json.loads((data / "demo.json").read_text(encoding="utf-8"))
        auth = {"Authorization": f"Bearer {info['agencies'][0]['api_key']}"}
        with httpx.Client(base_url=demo.url, timeout=30) as client:
            issued = client.post("/api/v1/credentials", json=_first_use_body(), headers=auth)
            assert issued.status_code == 201, issued.text
            qr, cid = issued.json()["qr_text"], issued.json()["id"]
            assert client.post("/api/v1/verify", json={"qr": qr}).json()["reason"] == "VALID"
            revoked = client.post(
                f"/api/v1/credentials/{cid}/revoke", json={"reason": "企业申请注销"}, headers=auth
            )
            assert revoked.status_code == 200, revoked.text
            assert client.post("/api/v1/verify", json={"qr": qr}).json()["reason"] == "REVOKED"
            metrics = client.get("/metrics").text
    for line in (
        'ecert_http_requests_total{method="POST",route="/api/v1/credentials",status="201"} 1.0',
        'ecert_http_requests_total{method="POST",route="/api/v1/verify",status="200"} 2.0',
        'ecert_http_requests_total{method="POST",route="/api/v1/credentials/{credential_id}/'
        'revoke",status="200"} 1.0',
        'ecert_verify_answers_total{reason="VALID"} 1.0',
        'ecert_verify_answers_total{reason="REVOKED"} 1.0',
        'ecert_credentials_issued_total{type="business-licence"}',
    ):
        assert line in metrics, f"{line!r} not in /metrics:\n{metrics[-3000:]}"
