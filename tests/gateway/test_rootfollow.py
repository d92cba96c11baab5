"""Root following: rootfollow fetches a peer's published roots; the walk is the trusted
state's (issue 8). An in-memory fetcher stands for the peer."""

from __future__ import annotations

import orjson
import pytest

from gateway.rootfollow import newest_root
from tests.trust.test_trustlist_vectors import NOW, ROOT_KEYS, SIGNED_V1, SIGNED_V2, root_v
from trust.errors import DataError
from trust.trustlist.errors import RollbackError, RootError
from trust.trustlist.root import SignedRoot

PEER = "https://ecert.hangzhou.gov.cn"
K0, K1, K2, _ = ROOT_KEYS
SIGNED_V3 = SignedRoot.sign(root_v(3, keys=[2]), [K1, K2])


class Published:
    def __init__(self, *roots: SignedRoot) -> None:
        self.body = orjson.dumps([r.to_json() for r in roots])

    def fetch(self, url: str) -> bytes:
        assert url == f"{PEER}/trust/root/history"
        return self.body


def _newest(*roots: SignedRoot, trusted: SignedRoot | None = SIGNED_V1) -> SignedRoot:
    pinned = set(SIGNED_V1.root.keys)
    return newest_root(Published(*roots), PEER, pinned=pinned, trusted=trusted, now=NOW)


def test_a_peer_is_followed_through_each_doubly_signed_root() -> None:
    assert _newest(SIGNED_V1, SIGNED_V2, SIGNED_V3) is not SIGNED_V1
    assert _newest(SIGNED_V1, SIGNED_V2, SIGNED_V3).root.version == 3
    assert _newest(SIGNED_V1, SIGNED_V2, SIGNED_V3, trusted=None).root.version == 3


def test_the_trusted_root_itself_is_kept_when_nothing_is_newer() -> None:
    assert _newest(SIGNED_V1) is SIGNED_V1


def test_a_history_that_skips_a_version_is_refused() -> None:
    with pytest.raises(RootError, match=r"\[2\] missing"):
        _newest(SIGNED_V1, SIGNED_V3)


def test_a_history_older_than_the_root_held_is_a_rollback() -> None:
    with pytest.raises(RollbackError):
        _newest(SIGNED_V1, trusted=SIGNED_V2)


def test_a_strangers_root_claiming_the_trusted_version_is_refused() -> None:
    stranger = SignedRoot.sign(root_v(1, keys=[2]), [K2])
    with pytest.raises(RootError, match="expected identical content"):
        _newest(stranger)
    with pytest.raises(DataError, match="no root with the pinned keys"):
        _newest(stranger, trusted=None)
