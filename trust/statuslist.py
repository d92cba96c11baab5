"""IETF Token Status List (draft-ietf-oauth-status-list): lists, references, signed list tokens.

- ``StatusList``: the packed status array of §4.1 (1, 2, 4 or 8 bits an entry, least significant
  bit first), its JSON form ``{"bits", "lst"}`` of §4.2 (ZLIB/DEFLATE, base64url), decoded with a
  bound on the inflated size so a small ``lst`` cannot expand into gigabytes.
- ``StatusReference``: a Referenced Token's ``status.status_list`` claim ``{"idx", "uri"}`` (§6.2).
- Status List Tokens in JWT form (§5.1, ``typ: statuslist+jwt``): signing, and strict verification
  into a ``StatusListSnapshot`` that the verify hot path reads without further parsing.
- ``random_free_index``: random, never reused indexes for issuers (§12.5, §13.3: herd privacy).

Deliberately not here: fetching lists (HTTP, §8.1-8.2), caching by ``ttl`` and historical resolution
(§8.4), aggregation (§9, ``aggregation_uri`` is ignored), the CWT/CBOR forms (§4.3, §5.2, §6.3),
and deciding what a status value means for a credential (that is verify/'s business). Everything
is pure: bytes, parsed objects and ``now`` in, values or ``StatusListError`` out.
"""

from __future__ import annotations

import secrets
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard
from urllib.parse import urlsplit

from trust.encoding import b64url_decode, b64url_encode
from trust.errors import DataError, StatusListError
from trust.jws import sign_compact, verify_compact
from trust.keys import PublicKey, SigningKey

# §7.1 Status Types values (0x03 and 0x0C-0x0F are application specific; we define none).
VALID = 0
INVALID = 1
SUSPENDED = 2

STATUS_LIST_TYP = "statuslist+jwt"  # §5.1
ALLOWED_BITS = (1, 2, 4, 8)  # §4.1 step 1
MAX_ENTRIES = 2**24  # decoded entries accepted by default: 2 MiB at bits=1, 16 MiB at bits=8
MAX_INDEX = 2**32 - 1  # largest idx a status reference may carry
MAX_URI_LENGTH = 512
MAX_STATUS_LIST_TOKEN_LENGTH = 4 * 1024 * 1024  # characters; a status list is not a QR token
_RANDOM_TRIES = 64
_URI_SHOWN = MAX_URI_LENGTH + 2  # a URI in a message is shown whole, quotes included


class StatusListExpired(StatusListError):
    """A Status List Token is past its ``exp`` (§8.3 step 4c): fetch a fresh one."""


def _show(value: object, limit: int = 80) -> str:
    """``repr`` cut short: messages quote untrusted input, which may be megabytes long."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({type(value).__name__})"


def _is_int(value: object) -> TypeGuard[int]:
    # JSON true/false must not pass as 1/0.
    return isinstance(value, int) and not isinstance(value, bool)


def _check_bits(bits: object) -> int:
    if not _is_int(bits) or bits not in ALLOWED_BITS:
        raise StatusListError(
            f"status list bits must be one of {ALLOWED_BITS}, found {_show(bits)}"
        )
    return bits


def _check_uri(uri: object, what: str) -> str:
    """A status list URI: an absolute http(s) URI with a host, printable ASCII, bounded."""
    if not isinstance(uri, str) or not uri:
        raise StatusListError(f"{what} must be a non-empty URI string, found {_show(uri)}")
    if len(uri) > MAX_URI_LENGTH:
        raise StatusListError(f"{what} is {len(uri)} characters, at most {MAX_URI_LENGTH} allowed")
    # RFC 3986 §2: a URI is printable ASCII without spaces.
    if not uri.isascii() or not uri.isprintable() or " " in uri:
        raise StatusListError(f"{what} must be printable ASCII without spaces, found {_show(uri)}")
    try:
        parts = urlsplit(uri)
    except ValueError as exc:
        raise StatusListError(f"{what} is not a valid URI: {exc}") from exc
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise StatusListError(f"{what} must be an http(s) URI with a host, found {_show(uri)}")
    return uri


class StatusList:
    """A packed array of statuses, ``bits`` bits each, least significant bit first (§4.1).

    Build an empty list with ``size``, or wrap a decoded byte array with ``data`` (``size`` then
    defaults to every entry the bytes can hold: the wire form carries no separate size). ``get``
    is the verify hot path: one bounds check and bit arithmetic, no allocation. A list built from
    ``bytes`` shares them until the first ``set``; a ``bytearray`` is copied.
    """

    __slots__ = ("_bits", "_data", "_mask", "_size")
    __hash__ = None  # type: ignore[assignment]  # mutable

    def __init__(
        self,
        *,
        bits: int,
        size: int | None = None,
        data: bytes | bytearray | None = None,
        max_entries: int = MAX_ENTRIES,
    ) -> None:
        self._bits = _check_bits(bits)
        self._mask = (1 << self._bits) - 1
        if size is not None and (not _is_int(size) or size <= 0):
            raise StatusListError(
                f"status list size must be a positive integer, found {_show(size)}"
            )
        if size is not None and size > max_entries:
            raise StatusListError(f"status list size {size} is over the limit of {max_entries}")
        if data is None:
            if size is None:
                raise StatusListError("a status list needs a size or data, found neither")
            self._data: bytes | bytearray = bytearray(-(-size * self._bits // 8))
        elif isinstance(data, bytes):
            self._data = data
        elif isinstance(data, bytearray):
            self._data = bytearray(data)
        else:
            raise StatusListError(f"status list data must be bytes, found {type(data).__name__}")
        capacity = len(self._data) * 8 // self._bits
        if size is None:
            if not 0 < capacity <= max_entries:
                raise StatusListError(
                    f"status list data must hold 1 to {max_entries} entries of {self._bits} "
                    f"bits, found {capacity}"
                )
            size = capacity
        elif size > capacity:
            raise StatusListError(
                f"{size} entries of {self._bits} bits need {-(-size * self._bits // 8)} bytes, "
                f"found {len(self._data)}"
            )
        self._size = size

    @property
    def bits(self) -> int:
        return self._bits

    @property
    def data(self) -> bytes:
        """A copy of the uncompressed byte array of §4.1 step 2."""
        return bytes(self._data)

    @property
    def size(self) -> int:
        """The number of entries (valid indexes are ``0 .. size - 1``)."""
        return self._size

    def __len__(self) -> int:
        return self._size

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StatusList):
            return NotImplemented
        return (self._bits, self._size, self._data) == (other._bits, other._size, other._data)

    def __repr__(self) -> str:
        return f"StatusList(bits={self._bits}, size={self._size})"

    def get(self, idx: int) -> int:
        """The status at ``idx``; out of range raises (§8.3 step 6: no statement can be made)."""
        if type(idx) is not int or not 0 <= idx < self._size:
            raise StatusListError(
                f"status index must be an integer from 0 to {self._size - 1}, found {_show(idx)}"
            )
        # §4.1 step 3: entry idx occupies bits [idx*bits, (idx+1)*bits), LSB first in each byte.
        pos = idx * self._bits
        return (self._data[pos >> 3] >> (pos & 7)) & self._mask

    def set(self, idx: int, value: int) -> None:
        if type(idx) is not int or not 0 <= idx < self._size:
            raise StatusListError(
                f"status index must be an integer from 0 to {self._size - 1}, found {_show(idx)}"
            )
        if not _is_int(value) or not 0 <= value <= self._mask:
            raise StatusListError(
                f"a {self._bits}-bit status must be an integer from 0 to {self._mask}, "
                f"found {_show(value)}"
            )
        if isinstance(self._data, bytes):
            self._data = bytearray(self._data)  # copy on first write
        pos = idx * self._bits
        byte, shift = pos >> 3, pos & 7
        self._data[byte] = (self._data[byte] & ~(self._mask << shift) & 0xFF) | (value << shift)

    def to_claim(self) -> dict[str, Any]:
        """The JSON Status List of §4.2: ``{"bits", "lst"}``."""
        # §4.1 step 4: ZLIB (RFC 1950) DEFLATE, highest compression level recommended.
        compressed = zlib.compress(bytes(self._data), 9)
        return {"bits": self._bits, "lst": b64url_encode(compressed)}

    @classmethod
    def from_claim(cls, claim: object, *, max_entries: int = MAX_ENTRIES) -> StatusList:
        """Decode a §4.2 Status List; the inflated size is bounded by ``max_entries``."""
        if not isinstance(claim, Mapping):
            raise StatusListError(
                f"status_list must be a JSON object, found {type(claim).__name__}"
            )
        bits = _check_bits(claim.get("bits"))
        lst = claim.get("lst")
        if not isinstance(lst, str) or not lst:
            raise StatusListError(f"status_list lst must be a non-empty string, found {_show(lst)}")
        if not _is_int(max_entries) or max_entries <= 0:
            raise StatusListError(
                f"max_entries must be a positive integer, found {_show(max_entries)}"
            )
        max_bytes = -(-max_entries * bits // 8)
        # DEFLATE cannot shrink incompressible data: bound the text before decoding it.
        max_text = (max_bytes + max_bytes // 100 + 1024) * 4 // 3
        if len(lst) > max_text:
            raise StatusListError(
                f"status_list lst is {len(lst)} characters, at most {max_text} allowed"
            )
        if not lst.isascii():
            raise StatusListError("status_list lst must be base64url, found non-ASCII text")
        try:
            compressed = b64url_decode(lst)
        except DataError as exc:
            raise StatusListError(f"status_list lst is not base64url: {exc}") from exc
        # §8.3 step 5, with a bound: inflate at most one byte past the limit, never all of it.
        inflater = zlib.decompressobj()
        try:
            data = inflater.decompress(compressed, max_bytes + 1)
        except zlib.error as exc:
            raise StatusListError(f"status_list lst is not ZLIB data: {exc}") from exc
        if len(data) > max_bytes or inflater.unconsumed_tail:
            raise StatusListError(
                f"status_list inflates past {max_bytes} bytes ({max_entries} entries of "
                f"{bits} bits), the most allowed"
            )
        if not inflater.eof or inflater.unused_data:
            raise StatusListError(
                "status_list lst must be exactly one complete ZLIB stream, found "
                + ("trailing data" if inflater.eof else "a truncated stream")
            )
        if not data:
            raise StatusListError("status_list must hold at least one entry, found none")
        return cls(bits=bits, data=data, max_entries=max_entries)


@dataclass(frozen=True)
class StatusReference:
    """A Referenced Token's pointer into a Status List (§6.2): ``status.status_list``."""

    idx: int
    uri: str

    def __post_init__(self) -> None:
        if not _is_int(self.idx) or not 0 <= self.idx <= MAX_INDEX:
            raise StatusListError(
                f"status_list idx must be an integer from 0 to {MAX_INDEX}, found {_show(self.idx)}"
            )
        _check_uri(self.uri, "status_list uri")

    @classmethod
    def from_claims(cls, payload: Mapping[str, Any]) -> StatusReference | None:
        """The reference in a token's claims; ``None`` when it has no ``status`` claim."""
        if "status" not in payload:
            return None
        status = payload["status"]
        # §8.3 step 1: a status claim, with a status_list member, shaped as §6.2 says.
        if not isinstance(status, Mapping):
            raise StatusListError(f"status must be a JSON object, found {type(status).__name__}")
        ref = status.get("status_list")
        if not isinstance(ref, Mapping):
            raise StatusListError(
                f"status.status_list must be a JSON object, found {type(ref).__name__}"
            )
        if "idx" not in ref or "uri" not in ref:
            raise StatusListError(
                f"status.status_list must have idx and uri, found {_show(sorted(map(str, ref)))}"
            )
        return cls(idx=ref["idx"], uri=ref["uri"])

    def to_claim(self) -> dict[str, Any]:
        """``{"status": {"status_list": {"idx", "uri"}}}``, to merge into a token's claims."""
        return {"status": {"status_list": {"idx": self.idx, "uri": self.uri}}}


@dataclass(frozen=True)
class StatusListSnapshot:
    """A verified Status List Token, ready for lookups. Do not ``set`` on its list."""

    uri: str
    iat: int
    exp: int
    ttl: int | None
    status_list: StatusList

    def status(self, idx: int) -> int:
        return self.status_list.get(idx)

    def is_fresh(self, now: int) -> bool:
        """Whether the token is still within its ``exp`` (§8.3 step 4c)."""
        return now < self.exp


@dataclass(frozen=True)
class StatusSource:
    """A status list the verifier may consult, and the issuer whose key signed it."""

    issuer_id: str
    snapshot: StatusListSnapshot


def _check_times(iat: object, exp: object, ttl: object) -> tuple[int, int, int | None]:
    """``iat``, ``exp`` (both required, ``exp`` later) and an optional ``ttl`` (§5.1)."""
    if not _is_int(iat) or not _is_int(exp):
        raise StatusListError(
            f"status list token iat and exp must be integers, found {_show(iat)} and {_show(exp)}"
        )
    if exp <= iat:
        raise StatusListError(f"status list token exp {exp} must be after its iat {iat}")
    # §5.1: ttl, if present, is a positive number (we take whole seconds).
    if ttl is not None and not (_is_int(ttl) and ttl > 0):
        raise StatusListError(
            f"status list token ttl must be a positive integer, found {_show(ttl)}"
        )
    return iat, exp, ttl if _is_int(ttl) else None


def sign_status_list_token(
    *, uri: str, status_list: StatusList, key: SigningKey, iat: int, exp: int, ttl: int
) -> str:
    """A §5.1 Status List Token: ``typ: statuslist+jwt``, claims sub, iat, exp, ttl, status_list."""
    _check_uri(uri, "status list uri")
    _check_times(iat, exp, ttl)
    payload = {
        "sub": uri,
        "iat": iat,
        "exp": exp,
        "ttl": ttl,
        "status_list": status_list.to_claim(),
    }
    token = sign_compact(payload, key, typ=STATUS_LIST_TYP)
    if len(token) > MAX_STATUS_LIST_TOKEN_LENGTH:
        raise StatusListError(
            f"status list token is {len(token)} characters, verifiers accept at most "
            f"{MAX_STATUS_LIST_TOKEN_LENGTH}: split the list"
        )
    return token


def verify_status_list_token(
    token: str,
    keys_for_kid: Callable[[str], Iterable[PublicKey]],
    *,
    expected_uri: str,
    now: int,
    max_entries: int = MAX_ENTRIES,
    max_length: int = MAX_STATUS_LIST_TOKEN_LENGTH,
) -> StatusListSnapshot:
    """Verify a Status List Token fetched for ``expected_uri`` and decode its list (§8.3).

    Signature, ``alg`` and ``typ`` errors come from :func:`trust.jws.verify_compact`; claim
    errors raise :class:`StatusListError`, an expired token :class:`StatusListExpired`.
    """
    return verify_status_list_token_by(
        token,
        keys_for_kid,
        expected_uri=expected_uri,
        now=now,
        max_entries=max_entries,
        max_length=max_length,
    )[0]


def verify_status_list_token_by(
    token: str,
    keys_for_kid: Callable[[str], Iterable[PublicKey]],
    *,
    expected_uri: str,
    now: int,
    max_entries: int = MAX_ENTRIES,
    max_length: int = MAX_STATUS_LIST_TOKEN_LENGTH,
) -> tuple[StatusListSnapshot, PublicKey]:
    """:func:`verify_status_list_token`, and the key whose signature verified."""
    # §8.3 step 3a and §5.1 rules 2-3: a signed JWT of type statuslist+jwt from a trusted key.
    verified = verify_compact(token, keys_for_kid, typ=STATUS_LIST_TYP, max_length=max_length)
    payload = verified.payload
    # §8.3 step 4a: the list must be the one the Referenced Token points at.
    sub = payload.get("sub")
    if sub != expected_uri:
        raise StatusListError(
            f"status list token is for {_show(sub, _URI_SHOWN)}, expected "
            f"{_show(expected_uri, _URI_SHOWN)}"
        )
    # §8.3 steps 3b and 4c. We require exp (only RECOMMENDED in §5.1): a list must go stale.
    iat, exp, ttl = _check_times(payload.get("iat"), payload.get("exp"), payload.get("ttl"))
    if now >= exp:
        raise StatusListExpired(
            f"status list token for {_show(sub)} expired at {exp}, now is {now}"
        )
    status_list = StatusList.from_claim(payload.get("status_list"), max_entries=max_entries)
    snapshot = StatusListSnapshot(
        uri=expected_uri,
        iat=iat,
        exp=exp,
        ttl=ttl,
        status_list=status_list,
    )
    return snapshot, verified.key


def random_free_index(
    used: Callable[[int], bool] | set[int], *, size: int, rng: secrets.SystemRandom
) -> int:
    """A random index in ``0 .. size - 1`` that ``used`` says was never handed out.

    §12.5 and §13.3: indexes should be random (no issuance order to read from them) and never
    reused. Draws are uniform; after a bounded number of collisions (a nearly full list) it scans
    from a random start. Raises :class:`StatusListError` when every index is used: start a new list.
    """
    if not _is_int(size) or size <= 0:
        raise StatusListError(f"status list size must be a positive integer, found {_show(size)}")
    is_used: Callable[[int], bool] = used.__contains__ if isinstance(used, set) else used
    for _ in range(_RANDOM_TRIES):
        idx = rng.randrange(size)
        if not is_used(idx):
            return idx
    start = rng.randrange(size)
    for offset in range(size):
        idx = (start + offset) % size
        if not is_used(idx):
            return idx
    raise StatusListError(f"status list full: all {size} indexes are used")
