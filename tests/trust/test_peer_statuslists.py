"""Peer status lists: one set of rules, and a token verified once (issue 8)."""

from __future__ import annotations

import pytest

from trust.errors import DataError
from trust.jws import UnknownKey
from trust.keys import SigningKey
from trust.peer_statuslists import PeerStatusLists, StatusListReplay
from trust.snapshot import KeyRecord
from trust.statuslist import StatusList, sign_status_list_token

NOW = 1_790_000_000
URI = "https://ecert.hangzhou.gov.cn/statuslists/1"
OWNER, OTHER = "https://ecert.hangzhou.gov.cn/agencies/ag-1", "https://x/agencies/ag-2"
KEY, NEXT, STRANGER = SigningKey.generate(), SigningKey.generate(), SigningKey.generate()


def _records(*, retired: int | None = None, compromised: int | None = None) -> list[KeyRecord]:
    return [
        KeyRecord(key=KEY.public, issuer_id=OWNER, not_before=NOW - 100, retired_at=retired,
                  compromised_at=compromised),
        KeyRecord(key=NEXT.public, issuer_id=OWNER, not_before=NOW - 50),
        KeyRecord(key=STRANGER.public, issuer_id=OTHER, not_before=NOW - 100),
    ]  # fmt: skip


def _token(key: SigningKey = KEY, *, iat: int = NOW, revoked: int | None = None) -> str:
    status_list = StatusList(bits=2, size=64)
    if revoked is not None:
        status_list.set(revoked, 1)
    return sign_status_list_token(
        uri=URI, status_list=status_list, key=key, iat=iat, exp=iat + 3600, ttl=300
    )


def test_a_token_is_verified_once_and_then_only_compared() -> None:
    lists = PeerStatusLists()
    first, changed = lists.accept(URI, _token(), owner=OWNER, keys=_records(), now=NOW)
    assert changed
    assert first.signer == KEY.kid
    for later in (NOW + 1, NOW + 60):
        again, changed = lists.accept(URI, first.token, owner=OWNER, keys=_records(), now=later)
        assert (again, changed) == (first, False)
        assert lists.current(URI, owner=OWNER, keys=_records(), now=later) == first
    assert lists.verifications == 1


def test_a_newer_list_replaces_the_held_one_and_an_older_one_is_a_replay() -> None:
    lists = PeerStatusLists()
    old = _token(iat=NOW - 10)
    lists.accept(URI, old, owner=OWNER, keys=_records(), now=NOW)
    newer, changed = lists.accept(URI, _token(iat=NOW, revoked=3), owner=OWNER, keys=_records(),
                                  now=NOW)  # fmt: skip
    assert changed
    assert newer.snapshot.status(3) == 1
    with pytest.raises(StatusListReplay, match="replay of an older list"):
        lists.accept(URI, _token(iat=NOW - 5), owner=OWNER, keys=_records(), now=NOW)
    assert lists.current(URI, owner=OWNER, keys=_records(), now=NOW) == newer


@pytest.mark.parametrize(
    ("signer", "records", "error"),
    [
        pytest.param(STRANGER, _records(), UnknownKey, id="another issuer's key"),
        pytest.param(KEY, _records(retired=NOW - 1), UnknownKey, id="a retired key"),
        pytest.param(KEY, _records(compromised=NOW - 1), UnknownKey, id="a compromised key"),
    ],
)
def test_only_a_current_key_of_the_owner_may_sign(
    signer: SigningKey, records: list[KeyRecord], error: type[DataError]
) -> None:
    lists = PeerStatusLists()
    with pytest.raises(error):
        lists.accept(URI, _token(signer), owner=OWNER, keys=records, now=NOW)
    assert lists.current(URI, owner=OWNER, keys=records, now=NOW) is None


def test_a_held_list_stops_being_current_when_its_signer_retires_or_it_expires() -> None:
    lists = PeerStatusLists()
    held, _ = lists.accept(URI, _token(), owner=OWNER, keys=_records(), now=NOW)
    assert lists.current(URI, owner=OWNER, keys=_records(retired=NOW + 10), now=NOW + 20) is None
    assert lists.current(URI, owner=OWNER, keys=_records(), now=held.snapshot.exp) is None
    with pytest.raises(DataError, match="may no longer sign"):
        lists.accept(URI, held.token, owner=OWNER, keys=_records(compromised=NOW), now=NOW + 1)
    assert lists.current(URI, owner=OTHER, keys=_records(), now=NOW) is None  # not its list
