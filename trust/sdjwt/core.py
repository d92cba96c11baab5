"""SD-JWT (RFC 9901) processing, independent of what the credential says: the compact
serialization, turning a payload and Disclosures into plain claims, and the Key Binding JWT.

- :func:`split`: ``<Issuer-signed JWT>~<Disclosure>~…~<KB-JWT or nothing>`` (§4), with the
  length and the number of parts bounded before anything is decoded.
- :func:`unpack`: §7.1 steps 3-5: every digest in ``_sd`` arrays and ``{"...": digest}``
  array entries, at any depth and inside Disclosures (recursive disclosures), is replaced by its
  Disclosure's claim or dropped (decoys, claims not disclosed); a digest seen twice, a
  Disclosure sent twice or referenced nowhere, a claim name disclosed over an existing one, a
  Disclosure of the wrong kind for where it is referenced, are all refused.
- :func:`check_key_binding`: §7.3: ``typ: kb+jwt``, signed by the ``cnf`` key, ``aud``,
  ``nonce``, ``iat`` within a window around ``now``, ``sd_hash`` over the SD-JWT as presented.
- :func:`verify_sd_jwt`: the three in order around a caller-supplied check of the Issuer-signed
  JWT's signature and ``typ``.

Deliberately not here: the SD-JWT VC claims (``vct``, ``iss``, validity, ``status``:
:mod:`trust.sdjwt.vc`), the JWS JSON serialization (§8), hash algorithms other than SHA-256.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from trust.errors import DataError
from trust.jws import BadSignature, VerifiedJWS, verify_compact_with_key
from trust.keys import PublicKey
from trust.sdjwt.disclosure import (
    ARRAY_KEY,
    MAX_DEPTH,
    SD_ALG,
    SD_ALG_KEY,
    SD_KEY,
    Disclosure,
    digest,
)
from trust.sdjwt.errors import (
    ClaimNameClash,
    ClaimNotDisclosable,
    DigestReferencedTwice,
    DisclosureKindMismatch,
    DuplicateDisclosure,
    KeyBindingAudience,
    KeyBindingBadSignature,
    KeyBindingMalformed,
    KeyBindingMissing,
    KeyBindingNonce,
    KeyBindingSdHash,
    KeyBindingStale,
    MalformedSdJwt,
    SdJwtTooLarge,
    UnexpectedKeyBinding,
    UnreferencedDisclosure,
    UnsupportedSdAlg,
)

SEPARATOR = "~"
KB_TYP = "kb+jwt"
MAX_SD_JWT_LENGTH = 32_768  # characters of a whole SD-JWT or SD-JWT+KB
MAX_ISSUER_JWT_LENGTH = 16_384
MAX_KB_JWT_LENGTH = 2048
MAX_DISCLOSURES = 64
MAX_DIGESTS = 128  # entries of one ``_sd`` array (Disclosures and decoys)
KB_IAT_WINDOW = 60  # seconds either side of now a KB-JWT's iat may be
MAX_KB_IAT_WINDOW = 300

Path = tuple[str | int, ...]  # claim names and array positions from the payload's top


@dataclass(frozen=True)
class SdJwtParts:
    """The pieces of a compact SD-JWT or SD-JWT+KB, not yet verified."""

    issuer_jwt: str
    disclosures: tuple[str, ...]
    kb_jwt: str | None

    @property
    def presented(self) -> str:
        """The SD-JWT without its KB-JWT, exactly the text ``sd_hash`` covers (§4.3.1)."""
        return SEPARATOR.join((self.issuer_jwt, *self.disclosures, ""))


def split(serialized: str, *, max_length: int = MAX_SD_JWT_LENGTH) -> SdJwtParts:
    """Split a compact SD-JWT (``…~``) or SD-JWT+KB (``…~<KB-JWT>``), bounded before parsing."""
    if len(serialized) > max_length:
        raise SdJwtTooLarge(f"an SD-JWT is {len(serialized)} characters, at most {max_length}")
    if not serialized.isascii():
        raise MalformedSdJwt("an SD-JWT is ASCII (base64url, '.' and '~'), found other characters")
    count = serialized.count(SEPARATOR)
    if count == 0:
        raise MalformedSdJwt("an SD-JWT ends its Issuer-signed JWT with '~', found no '~'")
    if count - 1 > MAX_DISCLOSURES:
        raise SdJwtTooLarge(f"an SD-JWT has {count - 1} Disclosures, at most {MAX_DISCLOSURES}")
    issuer_jwt, *disclosures, last = serialized.split(SEPARATOR)
    if len(issuer_jwt) > MAX_ISSUER_JWT_LENGTH:
        raise SdJwtTooLarge(
            f"the Issuer-signed JWT is {len(issuer_jwt)} characters, at most "
            f"{MAX_ISSUER_JWT_LENGTH}"
        )
    if "" in disclosures:
        raise MalformedSdJwt("an SD-JWT has an empty Disclosure ('~~')")
    if len(last) > MAX_KB_JWT_LENGTH:
        raise SdJwtTooLarge(f"the KB-JWT is {len(last)} characters, at most {MAX_KB_JWT_LENGTH}")
    return SdJwtParts(issuer_jwt, tuple(disclosures), last or None)


@dataclass(frozen=True)
class Unpacked:
    """A processed payload: ``claims`` without ``_sd``/``_sd_alg``, and where each
    Disclosure (by digest) was found."""

    claims: dict[str, Any]
    paths: Mapping[str, Path]


def unpack(
    payload: Mapping[str, Any],
    disclosures: Sequence[Disclosure],
    *,
    never_disclosed: frozenset[str] = frozenset(),
) -> Unpacked:
    """RFC 9901 §7.1 steps 3-5 over a verified payload and the Disclosures sent with it.

    ``never_disclosed`` names top-level claims that must not come from a Disclosure."""
    sd_alg = payload.get(SD_ALG_KEY, SD_ALG)
    if sd_alg != SD_ALG:
        raise UnsupportedSdAlg(f"expected _sd_alg {SD_ALG!r}, found {sd_alg!r}")
    walker = _Unpacker(disclosures)
    claims = walker.object(payload, (), 1)
    claims.pop(SD_ALG_KEY, None)
    unreferenced = [d for d in disclosures if d.digest not in walker.paths]
    if unreferenced:
        first = unreferenced[0]
        raise UnreferencedDisclosure(
            f"expected every Disclosure's digest in the Issuer-signed JWT, found "
            f"{len(unreferenced)} that are not (first: {first.name or 'an array element'!r}, "
            f"digest {first.digest})"
        )
    for dg, path in walker.paths.items():
        if len(path) == 1 and path[0] in never_disclosed:
            raise ClaimNotDisclosable(
                f"expected {path[0]!r} as a plain claim, found it in a Disclosure ({dg})"
            )
    return Unpacked(claims, walker.paths)


class _Unpacker:
    def __init__(self, disclosures: Sequence[Disclosure]) -> None:
        self.by_digest: dict[str, Disclosure] = {}
        for d in disclosures:
            if d.digest in self.by_digest:
                raise DuplicateDisclosure(
                    f"expected each Disclosure once, found {d.name or 'an array element'!r} "
                    f"(digest {d.digest}) twice"
                )
            self.by_digest[d.digest] = d
        self.seen: set[str] = set()
        self.paths: dict[str, Path] = {}

    def _see(self, dg: object, where: Path) -> Disclosure | None:
        if not isinstance(dg, str):
            raise MalformedSdJwt(f"a digest is a string, found {type(dg).__name__} at {where}")
        if dg in self.seen:
            raise DigestReferencedTwice(
                f"expected each digest once in the SD-JWT, found {dg} again at {where}"
            )
        self.seen.add(dg)
        return self.by_digest.get(dg)

    def value(self, value: Any, path: Path, depth: int) -> Any:
        if isinstance(value, dict):
            return self.object(value, path, depth)
        if isinstance(value, list):
            return self.array(value, path, depth)
        return value

    def object(self, obj: Mapping[str, Any], path: Path, depth: int) -> dict[str, Any]:
        if depth > MAX_DEPTH:
            raise SdJwtTooLarge(f"claims are nested deeper than {MAX_DEPTH} levels at {path}")
        out = {k: self.value(v, (*path, k), depth + 1) for k, v in obj.items() if k != SD_KEY}
        digests = obj.get(SD_KEY, [])
        if not isinstance(digests, list):
            raise MalformedSdJwt(f"_sd is an array, found {type(digests).__name__} at {path}")
        if len(digests) > MAX_DIGESTS:
            raise SdJwtTooLarge(f"an _sd array has {len(digests)} digests, at most {MAX_DIGESTS}")
        for dg in digests:
            d = self._see(dg, path)
            if d is None:
                continue  # a decoy, or a claim the holder did not disclose
            if d.name is None:
                raise DisclosureKindMismatch(
                    f"expected an object-property Disclosure for the _sd digest {dg} at {path}, "
                    "found an array-element Disclosure"
                )
            if d.name in out:
                raise ClaimNameClash(
                    f"expected the disclosed claim {d.name!r} to be new at {path or 'the top'}, "
                    "found it there already"
                )
            self.paths[dg] = (*path, d.name)
            out[d.name] = self.value(d.value, (*path, d.name), depth + 1)
        return out

    def array(self, arr: list[Any], path: Path, depth: int) -> list[Any]:
        if depth > MAX_DEPTH:
            raise SdJwtTooLarge(f"claims are nested deeper than {MAX_DEPTH} levels at {path}")
        out = []
        for i, element in enumerate(arr):
            if not (isinstance(element, dict) and ARRAY_KEY in element):
                out.append(self.value(element, (*path, i), depth + 1))
                continue
            if len(element) != 1:  # §4.2.4.2: no other keys beside "..."
                raise MalformedSdJwt(
                    f"an array entry with '...' has no other keys, found {sorted(element)} at "
                    f"{(*path, i)}"
                )
            d = self._see(element[ARRAY_KEY], (*path, i))
            if d is None:
                continue
            if d.name is not None:
                raise DisclosureKindMismatch(
                    f"expected an array-element Disclosure at {(*path, i)}, found the "
                    f"object-property Disclosure {d.name!r}"
                )
            self.paths[d.digest] = (*path, i)
            out.append(self.value(d.value, (*path, i), depth + 1))
        return out


def holder_key(payload: Mapping[str, Any]) -> PublicKey | None:
    """The key a KB-JWT must be signed with: ``cnf.jwk`` (RFC 7800 §3.2), or ``None`` when
    the payload has no ``cnf``. A ``kid`` inside the JWK is ignored: the key is what counts."""
    cnf = payload.get("cnf")
    if cnf is None:
        return None
    jwk = cnf.get("jwk") if isinstance(cnf, dict) else None
    if not isinstance(jwk, dict):
        raise KeyBindingMalformed(
            f"expected cnf to be an object with a jwk member, found {_shape(cnf)}"
        )
    try:
        return PublicKey.from_jwk({k: v for k, v in jwk.items() if k != "kid"})
    except DataError as exc:
        raise KeyBindingMalformed(f"cnf.jwk is not a key we can use: {exc}") from exc


@dataclass(frozen=True)
class KeyBindingCheck:
    """What a verifier expects of a KB-JWT: its own identifier and the nonce it issued."""

    audience: str
    nonce: str
    window: int = KB_IAT_WINDOW

    def __post_init__(self) -> None:
        if not self.audience or not self.nonce:
            raise KeyBindingMalformed("a key binding check needs a non-empty audience and nonce")
        if not 0 <= self.window <= MAX_KB_IAT_WINDOW:
            raise KeyBindingMalformed(
                f"a KB-JWT iat window is 0 to {MAX_KB_IAT_WINDOW} seconds, found {self.window}"
            )


def check_key_binding(
    kb_jwt: str,
    *,
    key: PublicKey,
    presented: str,
    expected: KeyBindingCheck,
    now: int,
) -> dict[str, Any]:
    """Verify a KB-JWT (§7.3) for the SD-JWT text ``presented``; its payload when it holds."""
    try:
        verified = verify_compact_with_key(kb_jwt, key, typ=KB_TYP, max_length=MAX_KB_JWT_LENGTH)
    except BadSignature as exc:
        raise KeyBindingBadSignature(
            f"expected a KB-JWT signed by the credential's cnf key {key.kid}: {exc}"
        ) from exc
    except DataError as exc:
        raise KeyBindingMalformed(f"expected a kb+jwt KB-JWT: {exc}") from exc
    claims = verified.payload
    iat = claims.get("iat")
    if not isinstance(iat, int) or isinstance(iat, bool):
        raise KeyBindingMalformed(f"expected an integer KB-JWT iat, found {_shape(iat)}")
    for name in ("aud", "nonce", "sd_hash"):
        if not isinstance(claims.get(name), str):
            raise KeyBindingMalformed(
                f"expected a string KB-JWT {name}, found {_shape(claims.get(name))}"
            )
    if claims["aud"] != expected.audience:
        raise KeyBindingAudience(
            f"expected KB-JWT aud {expected.audience!r}, found {_shape(claims['aud'])}"
        )
    if claims["nonce"] != expected.nonce:
        raise KeyBindingNonce(
            f"expected KB-JWT nonce {expected.nonce!r}, found {_shape(claims['nonce'])}"
        )
    if abs(now - iat) > expected.window:
        raise KeyBindingStale(
            f"expected a KB-JWT iat within {expected.window} s of {now}, found {iat}"
        )
    wanted = digest(presented)
    if claims["sd_hash"] != wanted:
        raise KeyBindingSdHash(
            f"expected sd_hash {wanted} over the SD-JWT as presented, found "
            f"{_shape(claims['sd_hash'])}"
        )
    return claims


@dataclass(frozen=True)
class VerifiedSdJwt:
    """An SD-JWT whose signature, Disclosures and (when asked) key binding hold."""

    header: Mapping[str, Any]
    payload: dict[str, Any]  # as signed, digests and all
    unpacked: Unpacked
    issuer_key: PublicKey
    holder_key: PublicKey | None
    key_binding: dict[str, Any] | None  # the KB-JWT's claims when one was checked


def verify_sd_jwt(
    serialized: str,
    *,
    verify_issuer_jwt: Callable[[str], VerifiedJWS],
    key_binding: KeyBindingCheck | None,
    now: int,
    never_disclosed: frozenset[str] = frozenset(),
) -> VerifiedSdJwt:
    """Split, verify the Issuer-signed JWT with ``verify_issuer_jwt`` (signature and ``typ``),
    process the Disclosures, then the KB-JWT: required when ``key_binding`` is given, refused
    when it is not (nothing to check it against)."""
    parts = split(serialized)
    verified = verify_issuer_jwt(parts.issuer_jwt)
    disclosures = [Disclosure.parse(d) for d in parts.disclosures]
    unpacked = unpack(verified.payload, disclosures, never_disclosed=never_disclosed)
    key = holder_key(verified.payload)
    kb_claims = None
    if key_binding is None:
        if parts.kb_jwt is not None:
            raise UnexpectedKeyBinding("expected an SD-JWT without a KB-JWT, found one")
    else:
        if parts.kb_jwt is None:
            raise KeyBindingMissing("expected an SD-JWT+KB, found no KB-JWT after the last '~'")
        if key is None:
            raise KeyBindingMissing("expected a cnf key in the credential to bind to, found none")
        kb_claims = check_key_binding(
            parts.kb_jwt, key=key, presented=parts.presented, expected=key_binding, now=now
        )
    return VerifiedSdJwt(
        header=verified.header,
        payload=verified.payload,
        unpacked=unpacked,
        issuer_key=verified.key,
        holder_key=key,
        key_binding=kb_claims,
    )


def _shape(value: object, limit: int = 80) -> str:
    """``repr`` cut short: untrusted values may be long."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({type(value).__name__})"
