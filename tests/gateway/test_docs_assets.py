"""``/docs`` and ``/redoc`` name nothing outside the gateway, and the document they render is
whole (issue 12). The browser side, with every outside request aborted, is
``tests/browser/test_docs_offline.py``."""

from __future__ import annotations

import re
from typing import Any

import pytest

from gateway.core import Gateway
from tests.gateway.helpers import client_for

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

URL = re.compile(r"""(?:src|href)=["']([^"']+)["']|url:\s*['"]([^'"]+)['"]""")


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(_refs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node))
    return set()


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_the_docs_pages_load_only_from_the_gateway(gw: Gateway, path: str) -> None:
    with client_for(gw) as client:
        page = client.get(path)
        assert page.status_code == 200
        assert page.headers["cache-control"] == "no-store"
        urls = [a or b for a, b in URL.findall(page.text)]
        assert urls, page.text  # the page names its script and the document
        for url in urls:
            assert url.startswith("/"), f"{path} loads {url} from outside the gateway"
            if url.startswith("/docs/assets/"):
                assert client.get(url).status_code == 200, url
        assert "fonts.googleapis.com" not in page.text
        assert "cdn.jsdelivr.net" not in page.text


def test_every_reference_in_the_document_resolves(gw: Gateway) -> None:
    # ReDoc refused the whole document ("Invalid reference token: HTTPValidationError"): a 422
    # of FastAPI's was left on GET /api/v1/counter, naming a schema the gateway had removed.
    with client_for(gw) as client:
        doc = client.get("/openapi.json").json()
    schemas = doc["components"]["schemas"]
    dangling = sorted(
        ref for ref in _refs(doc) if ref.removeprefix("#/components/schemas/") not in schemas
    )
    assert dangling == []
    assert "422" not in doc["paths"]["/api/v1/counter"]["get"]["responses"]


def test_an_asset_not_named_is_a_404_saying_what_is_served(gw: Gateway) -> None:
    with client_for(gw) as client:
        for name in ("core.py", "..%2F..%2Fsettings.py", "x" * 300):
            answer = client.get(f"/docs/assets/{name}")
            assert answer.status_code == 404
            detail = answer.json()["detail"]
            assert detail["code"] == "not_found"
            assert detail["message"].startswith("未找到")
            assert detail["message_en"].startswith("expected "), detail
