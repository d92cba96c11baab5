"""Token Status List: the draft's test vectors, bounds, signed list tokens, index allocation."""

from __future__ import annotations

import contextlib
import json
import secrets
import time
import zlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trust.encoding import b64url_decode, b64url_encode
from trust.errors import DataError, StatusListError
from trust.jws import (
    BadSignature,
    KeyIndex,
    MalformedToken,
    UnknownKey,
    UnsupportedToken,
    sign_compact,
)
from trust.keys import EDDSA, ES256, SigningKey
from trust.statuslist import (
    INVALID,
    MAX_ENTRIES,
    MAX_URI_LENGTH,
    SUSPENDED,
    VALID,
    StatusList,
    StatusListExpired,
    StatusListSnapshot,
    StatusReference,
    random_free_index,
    sign_status_list_token,
    verify_status_list_token,
)

VECTORS = Path(__file__).parent / "vectors" / "statuslist"
URI = "https://hz.ecert.example.cn/statuslists/1"
NOW = 1_750_000_000
IAT, EXP, TTL = NOW - 60, NOW + 3600, 300


def _vector(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((VECTORS / name).read_text(encoding="utf-8"))
    return data


def _expected_list(vector: dict[str, Any]) -> StatusList:
    """The statuses a vector lists, set one by one on an all-VALID list of its size."""
    expected = StatusList(bits=vector["bits"], size=vector["size"])
    pairs = vector.get("set") or list(enumerate(vector["statuses"]))
    for idx, value in pairs:
        expected.set(idx, value)
    return expected


DRAFT_VECTORS = sorted(p.name for p in VECTORS.glob("draft_*.json"))
SMALL_VECTORS = [n for n in DRAFT_VECTORS if "statuses" in _vector(n)]


# --- The draft's vectors, both directions ------------------------------------------------------


def test_vector_files_are_present() -> None:
    assert {"draft_c1_bits1.json", "draft_c2_bits2.json"} <= set(DRAFT_VECTORS)


@pytest.mark.parametrize("name", DRAFT_VECTORS)
def test_draft_lst_decodes_to_exactly_the_listed_statuses(name: str) -> None:
    vector = _vector(name)
    decoded = StatusList.from_claim({"bits": vector["bits"], "lst": vector["lst"]})

    assert decoded.bits == vector["bits"]
    assert decoded.size == vector["size"]
    # Whole-array equality: every index not listed is VALID.
    assert decoded.data == _expected_list(vector).data
    for idx, value in vector.get("set", []):
        assert decoded.get(idx) == value


@pytest.mark.parametrize("name", DRAFT_VECTORS)
def test_our_encoding_of_the_draft_statuses_decodes_the_same(name: str) -> None:
    vector = _vector(name)
    ours = _expected_list(vector).to_claim()

    assert ours["bits"] == vector["bits"]
    # zlib output may differ between compressor builds; the inflated content may not.
    assert zlib.decompress(b64url_decode(ours["lst"])) == zlib.decompress(
        b64url_decode(vector["lst"])
    )
    assert StatusList.from_claim(ours) == StatusList.from_claim(
        {"bits": vector["bits"], "lst": vector["lst"]}
    )


@pytest.mark.parametrize("name", SMALL_VECTORS)
def test_draft_section_4_examples_byte_arrays(name: str) -> None:
    vector = _vector(name)
    decoded = StatusList.from_claim({"bits": vector["bits"], "lst": vector["lst"]})

    assert decoded.data.hex() == vector["byte_array_hex"]
    assert b64url_encode(bytes.fromhex(vector["zlib_hex"])) == vector["lst"]
    assert [decoded.get(i) for i in range(vector["size"])] == vector["statuses"]


# --- Packing, bounds and round trips -----------------------------------------------------------


@pytest.mark.parametrize(
    ("bits", "idx", "value", "expected_bytes"),
    [
        pytest.param(1, 0, 1, "01", id="1-bit index 0 is the lowest bit"),
        pytest.param(1, 7, 1, "80", id="1-bit index 7 is the highest bit"),
        pytest.param(1, 8, 1, "0001", id="1-bit index 8 starts the next byte"),
        pytest.param(2, 1, SUSPENDED, "08", id="2-bit index 1 is bits 2-3"),
        pytest.param(2, 3, 3, "c0", id="2-bit index 3 is bits 6-7"),
        pytest.param(4, 1, 0xA, "a0", id="4-bit index 1 is the high nibble"),
        pytest.param(8, 1, 0xFF, "00ff", id="8-bit index 1 is byte 1"),
    ],
)
def test_least_significant_bit_first_packing(
    bits: int, idx: int, value: int, expected_bytes: str
) -> None:
    status_list = StatusList(bits=bits, size=len(expected_bytes) * 4 // bits)
    status_list.set(idx, value)
    assert status_list.data.hex() == expected_bytes
    assert status_list.get(idx) == value


@pytest.mark.parametrize("bits", [1, 2, 4, 8])
def test_round_trip_for_each_bits_value(bits: int) -> None:
    size = 1003  # not a multiple of 8: the last byte is partly padding
    status_list = StatusList(bits=bits, size=size)
    expected = [(i * 7) % (1 << bits) if i % 3 == 0 else VALID for i in range(size)]
    for i, value in enumerate(expected):
        status_list.set(i, value)

    decoded = StatusList.from_claim(status_list.to_claim())

    assert decoded.bits == bits
    assert decoded.size >= size  # the wire form carries no size: the padding entries come back
    assert [decoded.get(i) for i in range(size)] == expected
    assert all(decoded.get(i) == VALID for i in range(size, decoded.size))


def test_set_changes_only_its_own_entry() -> None:
    status_list = StatusList(bits=2, size=8)
    for i in range(8):
        status_list.set(i, 3)
    status_list.set(5, VALID)
    status_list.set(2, SUSPENDED)
    assert [status_list.get(i) for i in range(8)] == [3, 3, 2, 3, 3, 0, 3, 3]


def test_list_built_from_bytes_copies_on_first_write() -> None:
    source = bytes(2)
    status_list = StatusList(bits=1, data=source)
    status_list.set(3, INVALID)
    assert source == bytes(2)
    assert status_list.data == b"\x08\x00"


def test_list_built_from_bytearray_does_not_alias_it() -> None:
    source = bytearray(2)
    status_list = StatusList(bits=1, data=source)
    source[0] = 0xFF
    assert status_list.get(0) == VALID


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"bits": 3, "size": 8}, "bits must be one of", id="bits 3"),
        pytest.param({"bits": 16, "size": 8}, "bits must be one of", id="bits 16"),
        pytest.param({"bits": True, "size": 8}, "bits must be one of", id="bits boolean"),
        pytest.param({"bits": 1}, "needs a size or data", id="neither size nor data"),
        pytest.param({"bits": 1, "size": 0}, "positive integer", id="size 0"),
        pytest.param({"bits": 1, "size": -8}, "positive integer", id="negative size"),
        pytest.param({"bits": 1, "size": MAX_ENTRIES + 1}, "over the limit", id="size too big"),
        pytest.param({"bits": 2, "size": 9, "data": b"\x00\x00"}, "need 3 bytes", id="short data"),
        pytest.param({"bits": 1, "data": b""}, "1 to", id="empty data"),
        pytest.param({"bits": 1, "data": "00"}, "must be bytes", id="data as text"),
    ],
)
def test_constructor_rejects(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(StatusListError, match=message):
        StatusList(**kwargs)


@pytest.mark.parametrize(
    ("idx", "value"),
    [
        pytest.param(-1, VALID, id="negative index"),
        pytest.param(16, VALID, id="index equal to size"),
        pytest.param(10**12, VALID, id="huge index"),
        pytest.param(True, VALID, id="boolean index"),
        pytest.param(1.0, VALID, id="float index"),
        pytest.param("1", VALID, id="text index"),
        pytest.param(0, 4, id="value too big for 2 bits"),
        pytest.param(0, -1, id="negative value"),
        pytest.param(0, True, id="boolean value"),
    ],
)
def test_get_and_set_reject_out_of_range(idx: Any, value: Any) -> None:
    status_list = StatusList(bits=2, size=16)
    with pytest.raises(StatusListError, match="must be an integer"):
        status_list.set(idx, value)
    if value == VALID:
        with pytest.raises(StatusListError, match="must be an integer from 0 to 15"):
            status_list.get(idx)


def test_value_too_big_for_one_bit_says_what_fits() -> None:
    with pytest.raises(StatusListError, match="1-bit status must be an integer from 0 to 1"):
        StatusList(bits=1, size=8).set(0, SUSPENDED)


INVALID_CLAIMS = _vector("invalid_claims.json")["cases"]


@pytest.mark.parametrize("case", INVALID_CLAIMS, ids=[c["name"] for c in INVALID_CLAIMS])
def test_from_claim_rejects(case: dict[str, Any]) -> None:
    with pytest.raises(StatusListError, match=case["error"]):
        StatusList.from_claim(case["claim"])


def _zlib_bomb(mebibytes: int) -> bytes:
    """A ZLIB stream that inflates to ``mebibytes`` MiB of zeros, about 1 KB per MiB."""
    deflater = zlib.compressobj(9)
    first = deflater.compress(bytes(1 << 20)) + deflater.flush(zlib.Z_FULL_FLUSH)
    block = deflater.compress(bytes(1 << 20)) + deflater.flush(zlib.Z_FULL_FLUSH)
    return first + block * (mebibytes - 1) + deflater.flush()


def test_zip_bomb_of_a_few_kilobytes_is_rejected() -> None:
    bomb = _zlib_bomb(4)  # 4 MiB of 1-bit entries is twice the default bound
    assert len(bomb) < 8 * 1024
    with pytest.raises(StatusListError, match="inflates past 2097152 bytes"):
        StatusList.from_claim({"bits": 1, "lst": b64url_encode(bomb)})


def test_zip_bomb_of_a_gibibyte_is_rejected_without_inflating_it() -> None:
    lst = b64url_encode(_zlib_bomb(1024))
    started = time.perf_counter()
    with pytest.raises(StatusListError, match="inflates past"):
        StatusList.from_claim({"bits": 8, "lst": lst})
    assert time.perf_counter() - started < 1.0


def test_max_entries_bound_is_exact() -> None:
    at_bound = {"bits": 2, "lst": b64url_encode(zlib.compress(bytes(25)))}
    assert StatusList.from_claim(at_bound, max_entries=100).size == 100
    with pytest.raises(StatusListError, match="inflates past 24 bytes"):
        StatusList.from_claim(at_bound, max_entries=96)


_B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)
_lst = (
    st.text(max_size=60)
    | st.text(alphabet=_B64URL, max_size=60)
    | st.binary(max_size=60).map(b64url_encode)
    | st.binary(max_size=60).map(lambda b: b64url_encode(zlib.compress(b)))
    | st.binary(min_size=3, max_size=60).map(lambda b: b64url_encode(zlib.compress(b)[:-2]))
)
_claims = (
    _json
    | st.fixed_dictionaries({"bits": st.sampled_from([1, 2, 3, 4, 8, True, "1"]), "lst": _lst})
    | st.dictionaries(st.sampled_from(["bits", "lst", "aggregation_uri"]), _json | _lst)
)


@settings(max_examples=300)
@given(_claims)
def test_from_claim_raises_only_status_list_errors(claim: object) -> None:
    try:
        decoded = StatusList.from_claim(claim, max_entries=4096)
    except StatusListError:
        return  # anything else escapes and fails the test
    assert 0 < decoded.size <= 4096


def test_status_list_errors_are_data_errors() -> None:
    assert issubclass(StatusListError, DataError)
    assert issubclass(StatusListExpired, StatusListError)


@given(st.sampled_from([1, 2, 4, 8]), st.data())
def test_round_trip_property(bits: int, data: st.DataObject) -> None:
    values = data.draw(st.lists(st.integers(0, (1 << bits) - 1), min_size=1, max_size=200))
    status_list = StatusList(bits=bits, size=len(values))
    for i, value in enumerate(values):
        status_list.set(i, value)
    decoded = StatusList.from_claim(status_list.to_claim())
    assert [decoded.get(i) for i in range(len(values))] == values


# --- Status references in Referenced Tokens ----------------------------------------------------


def test_status_reference_round_trip() -> None:
    ref = StatusReference(idx=4711, uri=URI)
    claims = {"iss": "x", **ref.to_claim()}
    assert claims["status"] == {"status_list": {"idx": 4711, "uri": URI}}
    assert StatusReference.from_claims(claims) == ref


def test_no_status_claim_means_no_reference() -> None:
    assert StatusReference.from_claims({"iat": NOW}) is None


@pytest.mark.parametrize(
    ("status", "message"),
    [
        pytest.param([], "status must be a JSON object", id="status not an object"),
        pytest.param({}, "status_list must be a JSON object", id="no status_list member"),
        pytest.param({"status_list": "x"}, "must be a JSON object", id="status_list text"),
        pytest.param({"status_list": {"uri": URI}}, "must have idx and uri", id="idx missing"),
        pytest.param({"status_list": {"idx": 1}}, "must have idx and uri", id="uri missing"),
        pytest.param({"status_list": {"idx": -1, "uri": URI}}, "idx must be", id="negative"),
        pytest.param({"status_list": {"idx": "1", "uri": URI}}, "idx must be", id="idx text"),
        pytest.param({"status_list": {"idx": True, "uri": URI}}, "idx must be", id="idx bool"),
        pytest.param({"status_list": {"idx": 1.0, "uri": URI}}, "idx must be", id="idx float"),
        pytest.param({"status_list": {"idx": 2**32, "uri": URI}}, "idx must be", id="idx huge"),
        pytest.param({"status_list": {"idx": 1, "uri": ""}}, "non-empty URI", id="uri empty"),
        pytest.param({"status_list": {"idx": 1, "uri": 7}}, "non-empty URI", id="uri number"),
        pytest.param(
            {"status_list": {"idx": 1, "uri": "https://a.cn/" + "x" * MAX_URI_LENGTH}},
            "characters, at most",
            id="uri too long",
        ),
        pytest.param(
            {"status_list": {"idx": 1, "uri": "ftp://a.cn/l"}}, "http\\(s\\) URI", id="ftp"
        ),
        pytest.param(
            {"status_list": {"idx": 1, "uri": "/statuslists/1"}}, "http\\(s\\)", id="relative"
        ),
        pytest.param({"status_list": {"idx": 1, "uri": "https://"}}, "with a host", id="no host"),
        pytest.param(
            {"status_list": {"idx": 1, "uri": "https://a.cn/l 1"}}, "without spaces", id="space"
        ),
        pytest.param(
            {"status_list": {"idx": 1, "uri": "https://杭州.cn/l"}}, "printable ASCII", id="IRI"
        ),
        pytest.param(
            {"status_list": {"idx": 1, "uri": "https://[::1/l"}}, "not a valid URI", id="bad IPv6"
        ),
    ],
)
def test_status_reference_rejects(status: object, message: str) -> None:
    with pytest.raises(StatusListError, match=message):
        StatusReference.from_claims({"status": status})


@settings(max_examples=200)
@given(st.dictionaries(st.sampled_from(["status", "iat"]), _json))
def test_status_reference_raises_only_status_list_errors(payload: dict[str, Any]) -> None:
    with contextlib.suppress(StatusListError):  # anything else escapes and fails the test
        StatusReference.from_claims(payload)


# --- Status List Tokens ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey.generate()


def _list() -> StatusList:
    status_list = StatusList(bits=2, size=1024)
    status_list.set(3, INVALID)
    status_list.set(500, SUSPENDED)
    return status_list


def _token(key: SigningKey, **overrides: Any) -> str:
    args: dict[str, Any] = {
        "uri": URI,
        "status_list": _list(),
        "key": key,
        "iat": IAT,
        "exp": EXP,
        "ttl": TTL,
    }
    return sign_status_list_token(**{**args, **overrides})


@pytest.mark.parametrize("alg", [ES256, EDDSA])
def test_sign_then_verify_round_trip(alg: str) -> None:
    key = SigningKey.generate(alg)
    snapshot = verify_status_list_token(
        _token(key), KeyIndex([key.public]), expected_uri=URI, now=NOW
    )

    assert isinstance(snapshot, StatusListSnapshot)
    assert (snapshot.uri, snapshot.iat, snapshot.exp, snapshot.ttl) == (URI, IAT, EXP, TTL)
    assert snapshot.status_list == _list()
    assert [snapshot.status(i) for i in (0, 3, 500, 1023)] == [VALID, INVALID, SUSPENDED, VALID]
    assert snapshot.is_fresh(EXP - 1)
    assert not snapshot.is_fresh(EXP)


def test_token_header_and_claims_follow_section_5_1(key: SigningKey) -> None:
    header_b64, payload_b64, _ = _token(key).split(".")
    header = json.loads(b64url_decode(header_b64))
    payload = json.loads(b64url_decode(payload_b64))
    assert header["typ"] == "statuslist+jwt"
    assert set(payload) == {"sub", "iat", "exp", "ttl", "status_list"}
    assert payload["sub"] == URI
    assert StatusList.from_claim(payload["status_list"]) == _list()


def test_list_for_another_uri_is_refused(key: SigningKey) -> None:
    token = _token(key, uri="https://hz.ecert.example.cn/statuslists/2")
    with pytest.raises(
        StatusListError, match=r"is for '\S+/statuslists/2', expected '\S+/statuslists/1'"
    ):
        verify_status_list_token(token, KeyIndex([key.public]), expected_uri=URI, now=NOW)


@pytest.mark.parametrize("now", [EXP, EXP + 1], ids=["at exp", "after exp"])
def test_expired_token_is_refused(key: SigningKey, now: int) -> None:
    with pytest.raises(StatusListExpired, match=f"expired at {EXP}"):
        verify_status_list_token(_token(key), KeyIndex([key.public]), expected_uri=URI, now=now)


def test_tampered_lst_is_refused(key: SigningKey) -> None:
    header_b64, payload_b64, signature = _token(key).split(".")
    payload = json.loads(b64url_decode(payload_b64))
    payload["status_list"] = StatusList(bits=2, size=1024).to_claim()  # un-revoke everything
    forged = f"{header_b64}.{b64url_encode(json.dumps(payload).encode())}.{signature}"
    with pytest.raises(BadSignature):
        verify_status_list_token(forged, KeyIndex([key.public]), expected_uri=URI, now=NOW)


@pytest.mark.parametrize("typ", ["JWT", "ecert+jwt"])
def test_token_of_another_type_is_refused(key: SigningKey, typ: str) -> None:
    payload = {"sub": URI, "iat": IAT, "exp": EXP, "status_list": _list().to_claim()}
    token = sign_compact(payload, key, typ=typ)
    with pytest.raises(UnsupportedToken, match="statuslist\\+jwt"):
        verify_status_list_token(token, KeyIndex([key.public]), expected_uri=URI, now=NOW)


def test_token_from_an_untrusted_key_is_refused(key: SigningKey) -> None:
    other = SigningKey.generate()
    with pytest.raises(UnknownKey):
        verify_status_list_token(_token(key), KeyIndex([other.public]), expected_uri=URI, now=NOW)


def test_token_longer_than_max_length_is_refused(key: SigningKey) -> None:
    token = _token(key)
    with pytest.raises(MalformedToken, match="at most 100 allowed"):
        verify_status_list_token(
            token, KeyIndex([key.public]), expected_uri=URI, now=NOW, max_length=100
        )


def test_list_larger_than_max_entries_is_refused(key: SigningKey) -> None:
    with pytest.raises(StatusListError, match="inflates past"):
        verify_status_list_token(
            _token(key), KeyIndex([key.public]), expected_uri=URI, now=NOW, max_entries=512
        )


_GOOD = {"sub": URI, "iat": IAT, "exp": EXP, "ttl": TTL}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        pytest.param({"sub": None}, "is for None", id="sub missing"),
        pytest.param({"iat": None}, "iat and exp must be integers", id="iat missing"),
        pytest.param({"exp": None}, "iat and exp must be integers", id="exp missing"),
        pytest.param({"iat": str(IAT)}, "iat and exp must be integers", id="iat text"),
        pytest.param({"exp": float(EXP)}, "iat and exp must be integers", id="exp float"),
        pytest.param({"iat": True}, "iat and exp must be integers", id="iat boolean"),
        pytest.param({"exp": IAT}, "must be after its iat", id="exp equals iat"),
        pytest.param({"ttl": 0}, "ttl must be a positive integer", id="ttl zero"),
        pytest.param({"ttl": -5}, "ttl must be a positive integer", id="ttl negative"),
        pytest.param({"ttl": "300"}, "ttl must be a positive integer", id="ttl text"),
        pytest.param({"status_list": None}, "status_list must be a JSON object", id="no list"),
        pytest.param(
            {"status_list": {"bits": 1, "lst": b64url_encode(_zlib_bomb(4))}},
            "inflates past",
            id="zip bomb inside a signed token",
        ),
    ],
)
def test_verify_rejects_bad_claims(key: SigningKey, changes: dict[str, Any], message: str) -> None:
    payload = {"status_list": _list().to_claim(), **_GOOD, **changes}
    payload = {k: v for k, v in payload.items() if v is not None}
    token = sign_compact(payload, key, typ="statuslist+jwt")
    with pytest.raises(StatusListError, match=message):
        verify_status_list_token(token, KeyIndex([key.public]), expected_uri=URI, now=NOW)


def test_ttl_is_optional_when_verifying(key: SigningKey) -> None:
    payload = {"sub": URI, "iat": IAT, "exp": EXP, "status_list": _list().to_claim()}
    token = sign_compact(payload, key, typ="statuslist+jwt")
    snapshot = verify_status_list_token(token, KeyIndex([key.public]), expected_uri=URI, now=NOW)
    assert snapshot.ttl is None


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        pytest.param({"uri": "statuslists/1"}, "http\\(s\\) URI", id="relative uri"),
        pytest.param({"exp": IAT}, "must be after its iat", id="exp not after iat"),
        pytest.param({"ttl": 0}, "ttl must be a positive integer", id="ttl zero"),
    ],
)
def test_sign_rejects(key: SigningKey, overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(StatusListError, match=message):
        _token(key, **overrides)


# --- Index allocation --------------------------------------------------------------------------


class ScriptedRandom(secrets.SystemRandom):
    """Always draws the same index, to drive ``random_free_index`` into its scan."""

    def __init__(self, pick: int) -> None:
        super().__init__()
        self.pick = pick

    def randrange(self, *args: Any, **kwargs: Any) -> int:
        return self.pick


@settings(max_examples=200)
@given(st.integers(1, 64).flatmap(lambda n: st.tuples(st.just(n), st.sets(st.integers(0, n - 1)))))
def test_random_free_index_never_returns_a_used_index(case: tuple[int, set[int]]) -> None:
    size, used = case
    rng = secrets.SystemRandom()
    if len(used) == size:
        with pytest.raises(StatusListError, match="status list full"):
            random_free_index(used, size=size, rng=rng)
    else:
        idx = random_free_index(used, size=size, rng=rng)
        assert 0 <= idx < size
        assert idx not in used


def test_random_free_index_accepts_a_predicate() -> None:
    idx = random_free_index(lambda i: i % 2 == 0, size=1000, rng=secrets.SystemRandom())
    assert idx % 2 == 1


def test_random_free_index_scans_when_draws_keep_colliding() -> None:
    used = set(range(100)) - {42}
    assert random_free_index(used, size=100, rng=ScriptedRandom(pick=7)) == 42


@pytest.mark.parametrize(
    "used", [set(range(10)), lambda i: True], ids=["set of every index", "predicate always true"]
)
def test_random_free_index_raises_when_full(used: Any) -> None:
    with pytest.raises(StatusListError, match="status list full: all 10 indexes are used"):
        random_free_index(used, size=10, rng=secrets.SystemRandom())


def test_random_free_index_spreads_its_draws() -> None:
    rng = secrets.SystemRandom()
    draws = {random_free_index(set(), size=2**20, rng=rng) for _ in range(50)}
    assert len(draws) > 40  # 50 uniform draws from 2^20 collide with probability ~0.1 %


@pytest.mark.parametrize("size", [0, -1, True], ids=["zero", "negative", "boolean"])
def test_random_free_index_rejects_bad_size(size: Any) -> None:
    with pytest.raises(StatusListError, match="size must be a positive integer"):
        random_free_index(set(), size=size, rng=secrets.SystemRandom())
