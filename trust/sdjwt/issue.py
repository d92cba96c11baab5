"""Issuing an SD-JWT VC: which claims become Disclosures, decoys, and the signed JWT.

The caller names the claims to conceal as paths: a claim name (``"name"``), a path into nested
objects (``("address", "locality")``) or an array position (``("nationalities", 0)``). A path
and one under it may both be named: the inner Disclosure sits inside the outer one's value
(recursive disclosure, RFC 9901 §4.2.6). Registered claims
(:data:`~trust.sdjwt.vc.NEVER_DISCLOSABLE`) are refused, as is any path that names no claim.

Every ``_sd`` array is sorted, which hides the order claims were given in (§4.2.4.1); decoys
(§4.2.5) go into the top-level ``_sd``, at most :data:`MAX_DECOYS`.

Deliberately not here: which fields of which credential type are disclosable (the type files,
issuers/), how ``vct`` URLs are made, and keeping the issued credential.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from trust.encoding import b64url_decode
from trust.errors import DataError
from trust.jws import sign_compact
from trust.keys import PublicKey, SigningKey
from trust.sdjwt.core import MAX_DIGESTS, MAX_DISCLOSURES, SEPARATOR
from trust.sdjwt.disclosure import (
    ARRAY_KEY,
    SD_ALG,
    SD_ALG_KEY,
    SD_KEY,
    Disclosure,
    check_value,
    decoy_digest,
)
from trust.sdjwt.errors import (
    ClaimNotDisclosable,
    ForbiddenClaimName,
    InvalidVcClaims,
    MalformedSdJwt,
    SdJwtTooLarge,
)
from trust.sdjwt.vc import NEVER_DISCLOSABLE, SD_JWT_VC_TYP, _check_url
from trust.statuslist import StatusReference

MAX_DECOYS = 16

ClaimPath = tuple[str | int, ...]


@dataclass(frozen=True)
class SdJwt:
    """An issued SD-JWT: the Issuer-signed JWT and every Disclosure, as the holder keeps it."""

    issuer_jwt: str
    disclosures: tuple[Disclosure, ...]

    def serialize(self, disclosures: Iterable[Disclosure] | None = None) -> str:
        """``<JWT>~<Disclosure>~…~``: all Disclosures, or those given (for a presentation)."""
        chosen = self.disclosures if disclosures is None else tuple(disclosures)
        return SEPARATOR.join((self.issuer_jwt, *(d.encoded for d in chosen), ""))

    def unverified_payload(self) -> dict[str, Any]:
        """The Issuer-signed JWT's payload, not verified: for a holder that checked the
        credential when it received it (:func:`trust.sdjwt.holder.receive`), or its issuer."""
        try:
            payload = orjson.loads(b64url_decode(self.issuer_jwt.split(".")[1]))
        except (IndexError, DataError, orjson.JSONDecodeError) as exc:
            raise MalformedSdJwt(
                f"the Issuer-signed JWT's payload is not base64url JSON: {exc}"
            ) from exc
        if not isinstance(payload, dict):
            raise MalformedSdJwt(f"a JWT payload is a JSON object, found {type(payload).__name__}")
        return payload


def issue_credential(
    claims: Mapping[str, Any],
    *,
    disclosable: Iterable[str | ClaimPath],
    signer: SigningKey,
    issuer: str,
    vct: str,
    holder_key: PublicKey,
    status: StatusReference | None,
    now: int,
    expires: int | None,
    not_before: int | None = None,
    decoys: int = 0,
) -> SdJwt:
    """Sign an SD-JWT VC (``typ: dc+sd-jwt``) of ``claims`` bound to ``holder_key``."""
    if not issuer:
        raise InvalidVcClaims("expected a non-empty issuer identifier")
    _check_url(vct)
    if not 0 <= decoys <= MAX_DECOYS:
        raise SdJwtTooLarge(f"decoys are 0 to {MAX_DECOYS}, found {decoys}")
    if expires is not None and expires <= now:
        raise InvalidVcClaims(f"expected exp after iat {now}, found {expires}")
    reserved = sorted(set(claims) & NEVER_DISCLOSABLE)
    if reserved:
        raise InvalidVcClaims(
            f"registered claims are set from the arguments, found {reserved} among the claims"
        )
    paths = {(p,) if isinstance(p, str) else tuple(p) for p in disclosable}
    for path in paths:
        if not path or not isinstance(path[0], str):
            raise ClaimNotDisclosable(f"expected a path starting with a claim name, found {path}")
        if path[0] in NEVER_DISCLOSABLE:
            raise ClaimNotDisclosable(
                f"expected only non-registered claims to be disclosable, found {path[0]!r}"
            )
    check_value(dict(claims), depth=1)
    made: list[Disclosure] = []
    concealed = _Concealer(paths, made).object(dict(claims), ())
    if len(made) > MAX_DISCLOSURES:
        raise SdJwtTooLarge(f"{len(made)} Disclosures, at most {MAX_DISCLOSURES} in an SD-JWT")

    payload: dict[str, Any] = {"iss": issuer, "iat": now}
    if not_before is not None:
        payload["nbf"] = not_before
    if expires is not None:
        payload["exp"] = expires
    payload["vct"] = vct
    if status is not None:
        payload.update(status.to_claim())
    payload["cnf"] = {
        "jwk": {k: holder_key.jwk[k] for k in ("kty", "crv", "x", "y") if k in holder_key.jwk}
    }
    top = list(concealed.pop(SD_KEY, []))
    payload.update(concealed)
    top.extend(decoy_digest() for _ in range(decoys))
    if len(top) > MAX_DIGESTS:
        raise SdJwtTooLarge(f"{len(top)} top-level digests, at most {MAX_DIGESTS}")
    if top:
        payload[SD_KEY] = sorted(top)
    payload[SD_ALG_KEY] = SD_ALG
    token = sign_compact(payload, signer, typ=SD_JWT_VC_TYP)
    return SdJwt(issuer_jwt=token, disclosures=tuple(made))


class _Concealer:
    """Walks the claims, replacing each named path with a digest; inner paths first, so a
    concealed object may itself hold concealed claims."""

    def __init__(self, paths: set[ClaimPath], made: list[Disclosure]) -> None:
        self.paths = paths
        self.made = made
        self.found: set[ClaimPath] = set()

    def object(self, obj: dict[str, Any], path: ClaimPath) -> dict[str, Any]:
        out: dict[str, Any] = {}
        digests: list[str] = []
        for name, value in obj.items():
            if name in (SD_KEY, ARRAY_KEY, SD_ALG_KEY):
                raise ForbiddenClaimName(f"a claim may not be named {name!r} (at {path})")
            here = (*path, name)
            inner = self.value(value, here)
            if here in self.paths:
                self.found.add(here)
                disclosure = Disclosure.make(name, inner)
                self.made.append(disclosure)
                digests.append(disclosure.digest)
            else:
                out[name] = inner
        if digests:
            out[SD_KEY] = sorted(digests)
        if not path:
            missing = self.paths - self.found
            if missing:
                raise ClaimNotDisclosable(
                    "expected every disclosable path to name a claim, found "
                    f"{sorted(map(str, missing))}"
                )
        return out

    def value(self, value: Any, path: ClaimPath) -> Any:
        if isinstance(value, dict):
            return self.object(value, path)
        if isinstance(value, list):
            out: list[Any] = []
            for i, element in enumerate(value):
                here = (*path, i)
                inner = self.value(element, here)
                if here in self.paths:
                    self.found.add(here)
                    disclosure = Disclosure.make(None, inner)
                    self.made.append(disclosure)
                    out.append({ARRAY_KEY: disclosure.digest})
                else:
                    out.append(inner)
            return out
        return value
