"""The holder's side of an SD-JWT VC: reading what was issued, choosing Disclosures for the
claims a verifier asked for, and presenting them with a Key Binding JWT (RFC 9901 §4.3, §7.2).

A request names claims as paths (``"name"``, ``("address", "locality")``). The Disclosures
sent are those on the way to a requested claim (a parent object's own Disclosure, when the
requested claim sits inside a concealed object) and everything under it; nothing else.

Deliberately not here: consent, which verifier may ask for what (roles, policy), storing the
credential or the holder key, DCQL, and OpenID4VP transport.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from trust.jws import sign_compact
from trust.keys import PublicKey, SigningKey
from trust.sdjwt.core import KB_TYP, Path, holder_key, split, unpack
from trust.sdjwt.disclosure import Disclosure, digest
from trust.sdjwt.errors import ClaimNotAvailable, HolderKeyMismatch, KeyBindingMissing
from trust.sdjwt.issue import SdJwt
from trust.sdjwt.vc import NEVER_DISCLOSABLE, VerifiedCredential, verify_credential


def receive(
    serialized: str, *, issuer_keys: Callable[[str], Iterable[PublicKey]], now: int
) -> tuple[SdJwt, VerifiedCredential]:
    """Check an issued SD-JWT VC (signature, every Disclosure referenced, validity: §7.2) and
    keep it as :class:`SdJwt`; a holder should not store what it could not present."""
    verified = verify_credential(serialized, issuer_keys=issuer_keys, now=now, key_binding=None)
    parts = split(serialized)
    sd_jwt = SdJwt(parts.issuer_jwt, tuple(Disclosure.parse(d) for d in parts.disclosures))
    return sd_jwt, verified


def select(sd_jwt: SdJwt, requested: Iterable[str | Path]) -> list[Disclosure]:
    """The Disclosures that reveal each requested claim path, in issuance order; raises
    :class:`ClaimNotAvailable` for a claim the credential lacks. ``sd_jwt`` is one the holder
    checked on receipt (:func:`receive`)."""
    payload = sd_jwt.unverified_payload()
    unpacked = unpack(payload, sd_jwt.disclosures, never_disclosed=NEVER_DISCLOSABLE)
    wanted = [(r,) if isinstance(r, str) else tuple(r) for r in requested]
    for path in wanted:
        if not _has(unpacked.claims, path):
            raise ClaimNotAvailable(f"expected the credential to hold {path}, found no such claim")
    return [
        d
        for d in sd_jwt.disclosures
        if any(_related(unpacked.paths[d.digest], path) for path in wanted)
    ]


def present(
    sd_jwt: SdJwt,
    disclosures: Iterable[Disclosure],
    *,
    holder: SigningKey,
    audience: str,
    nonce: str,
    now: int,
) -> str:
    """``<JWT>~<Disclosure>~…~<KB-JWT>``: the chosen Disclosures and a KB-JWT (``typ:
    kb+jwt``; ``aud``, ``nonce``, ``iat``, ``sd_hash`` over the SD-JWT as presented), signed
    with ``holder``, which must be the credential's ``cnf`` key."""
    cnf_key = holder_key(sd_jwt.unverified_payload())
    if cnf_key is None:
        raise KeyBindingMissing("expected a credential bound to a holder key, found no cnf")
    if holder.public.kid != cnf_key.kid:
        raise HolderKeyMismatch(
            f"expected the credential's cnf key {cnf_key.kid}, found holder key {holder.kid}"
        )
    known = {d.digest for d in sd_jwt.disclosures}
    chosen = list(disclosures)
    if any(d.digest not in known for d in chosen):
        raise ClaimNotAvailable("expected Disclosures of this credential, found a foreign one")
    presented = sd_jwt.serialize(chosen)
    kb_claims = {"iat": now, "aud": audience, "nonce": nonce, "sd_hash": digest(presented)}
    return presented + sign_compact(kb_claims, holder, typ=KB_TYP)


def _related(disclosed: Path, requested: Path) -> bool:
    """A Disclosure is needed when it is on the way to the requested claim or under it."""
    n = min(len(disclosed), len(requested))
    return disclosed[:n] == requested[:n]


def _has(claims: Any, path: Path) -> bool:
    node = claims
    for step in path:
        in_object = isinstance(step, str) and isinstance(node, dict) and step in node
        in_array = isinstance(step, int) and isinstance(node, list) and 0 <= step < len(node)
        if not (in_object or in_array):
            return False
        node = node[step]
    return True
