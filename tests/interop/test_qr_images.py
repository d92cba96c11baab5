"""QR images we render read back, in jsQR (node, with pngjs), to exactly our QR text: the PNG the
API serves and :func:`issuers.qr.render_png` for every shipped type (the gateway itself reads
QR codes with zxing-cpp; jsQR shares no code with it or with libzint, which draws them)."""

from __future__ import annotations

import base64

from gateway.core import Gateway
from issuers.qr import qr_version, render_png
from tests.gateway.helpers import auth, client_for
from tests.interop.conftest import NodeRunner
from tests.interop.issued import SHIPPED, agency_for_every_type, issue_every_type

QR_BUDGET = 17  # README: version <= 17 at ECC M


def _read(node: NodeRunner, images: list[bytes]) -> list[dict[str, object]]:
    answers: list[dict[str, object]] = node(
        "qr_decode", {"images": [base64.b64encode(png).decode() for png in images]}
    )
    assert len(answers) == len(images)
    return answers


def test_every_shipped_types_qr_reads_back_exactly_in_jsqr(gw: Gateway, node: NodeRunner) -> None:
    agency = agency_for_every_type(gw)
    with client_for(gw) as client:
        issued = issue_every_type(client, agency)
        served = [client.get(one.answer["qr_png"], headers=auth(agency.api_key)) for one in issued]
    assert [one.type for one in issued] == SHIPPED
    for response in served:
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/png"
    texts = [one.qr_text for one in issued]
    rendered = [render_png(text) for text in texts]
    answers = _read(node, [r.content for r in served] + rendered)
    for text, answer, ctype in zip(texts * 2, answers, SHIPPED * 2, strict=True):
        assert answer["ok"], (ctype, answer)
        assert answer["text"] == text, ctype
        assert answer["version"] == qr_version(text) <= QR_BUDGET, ctype


def test_jsqr_reads_other_texts_and_reports_unreadable_images(node: NodeRunner) -> None:
    """A control: the script reports what jsQR read, not what it was hoped to read."""
    other = "https://ecert.example.cn/v#0123456789"
    answers = _read(node, [render_png(other), b"not a png"])
    assert answers[0] == {"ok": True, "text": other, "version": qr_version(other)}
    assert answers[1]["ok"] is False
