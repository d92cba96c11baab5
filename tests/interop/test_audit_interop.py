"""The audit log's artifacts checked by implementations nobody here wrote.

- node ``jose`` verifies a checkpoint (``GET /audit/checkpoint``) with nothing but the keys of
  the gateway's entity configuration.
- PyPI ``pymerkle`` 7.0.0 (an RFC 9162 Merkle tree of its own: 0x00/0x01 prefixes, SHA-256),
  fed the leaves ``GET /audit/entries`` serves, gives the same leaf hashes, the same root at the
  checkpoint's size and at every smaller size, and the same inclusion audit paths
  (``GET /audit/proof/inclusion``; pymerkle's proof path is the leaf, then the same siblings,
  leaf upwards). pymerkle's consistency proofs have a shape of their own, so ours are checked
  with our verifier against the roots pymerkle computed.
"""

from __future__ import annotations

import json
from typing import Any

from pymerkle import InmemoryTree

from gateway import audit, auditheads, federation
from gateway.core import Gateway
from tests.conftest import FakeClock
from tests.gateway.helpers import client_for
from tests.interop.conftest import NodeRunner
from trust import merkle
from trust.encoding import b64url_decode


def _payload(token: str) -> dict[str, Any]:
    return dict(json.loads(b64url_decode(token.split(".")[1])))


def _log(gw: Gateway, count: int) -> None:
    with gw.transaction() as session:
        for i in range(count):
            audit.record(session, at=1_790_000_000 + i, actor="agency:a1",
                         action="credential.issue", subject=f"c{i}", type="business-licence",
                         中文="证照")  # fmt: skip


def test_checkpoint_and_proofs_check_out_with_jose_and_pymerkle(
    gw: Gateway, clock: FakeClock, node: NodeRunner
) -> None:
    federation.init(gw, role=federation.ANCHOR, region_id="yrd", region_name="长三角", actor="t")
    _log(gw, 300)
    with client_for(gw) as client:
        token = client.get("/audit/checkpoint").text
        config = client.get("/.well-known/openid-federation").text
        head = _payload(token)
        n = head["tree_size"]
        entries = []
        for start in range(0, n, 1000):
            got = client.get("/audit/entries", params={"start": start, "end": min(n, start + 1000)})
            entries += got.json()["entries"]
        paths = {
            (i, size): client.get(
                "/audit/proof/inclusion", params={"index": i, "tree_size": size}
            ).json()
            for i, size in [(0, 1), (0, n), (n - 1, n), (137, n), (5, 9), (255, 256), (256, 300)]
            if i < size <= n
        }
        consistency = {
            (m, k): client.get("/audit/proof/consistency", params={"first": m, "second": k}).json()
            for m, k in [(1, n), (3, 7), (64, n), (200, 257), (n, n)]
        }

    (verified,) = node("jose_verify", {"tokens": [token], "jwks": _payload(config)["jwks"]})
    assert verified["ok"], verified
    assert verified["header"]["typ"] == auditheads.CHECKPOINT_TYP
    assert verified["payload"] == head

    tree = InmemoryTree(algorithm="sha256")  # security on: RFC 9162's 0x00 / 0x01 prefixes
    for position, entry in enumerate(entries):
        assert entry["index"] == position
        data = json.dumps(entry["leaf"], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        tree.append_entry(data.encode())
        assert tree.get_leaf(position + 1) == b64url_decode(entry["leaf_hash"])
    assert tree.get_size() == n
    assert tree.get_root(n) == b64url_decode(head["root_hash"])

    for (i, size), body in paths.items():
        theirs = tree.prove_inclusion(i + 1, size).path  # [leaf, siblings from the leaf up]
        assert [b64url_decode(h) for h in body["proof"]] == theirs[1:], (i, size)
        assert b64url_decode(body["leaf_hash"]) == theirs[0]
    for (m, k), body in consistency.items():
        merkle.verify_consistency(
            first_size=m, second_size=k, first_root=tree.get_root(m),
            second_root=tree.get_root(k), proof=[b64url_decode(h) for h in body["proof"]],
        )  # fmt: skip
