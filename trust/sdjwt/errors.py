"""Why an SD-JWT or SD-JWT VC is refused: one class per rule, each a :class:`DataError`.

A caller that only needs "bad input" catches :class:`SdJwtError`; one that maps refusals onto
reason codes (the verifier, a wallet) catches the specific classes. Signature failures of the
Issuer-signed JWT surface as :mod:`trust.jws`'s own classes (``UnknownKey``, ``BadSignature``,
``UnsupportedToken``, ``MalformedToken``); a bad ``status`` claim as
:class:`trust.errors.StatusListError`.
"""

from __future__ import annotations

from trust.errors import DataError


class SdJwtError(DataError):
    """Base of every SD-JWT refusal."""


class SdJwtTooLarge(SdJwtError):
    """A size bound was exceeded: serialization, a part, a count, a depth or a value."""


class MalformedSdJwt(SdJwtError):
    """Not an SD-JWT we can parse: separators, base64url, JSON, the shape of ``_sd`` or ``...``."""


class MalformedDisclosure(SdJwtError):
    """A Disclosure that is not base64url JSON of ``[salt, name, value]`` or ``[salt, value]``."""


class ForbiddenClaimName(SdJwtError):
    """A Disclosure names a claim ``_sd`` or ``...`` (RFC 9901 §4.2.1)."""


class ClaimNotDisclosable(SdJwtError):
    """A claim that must stay plainly visible (``iss``, ``exp``, ``cnf``, ``vct``, ``status`` …)
    was asked to be, or was, made selectively disclosable (SD-JWT VC §3.2.2.2)."""


class UnsupportedSdAlg(SdJwtError):
    """``_sd_alg`` names a hash algorithm other than ``sha-256``."""


class DuplicateDisclosure(SdJwtError):
    """The same Disclosure was sent twice (RFC 9901 §4: a Holder MUST NOT)."""


class UnreferencedDisclosure(SdJwtError):
    """A Disclosure whose digest the Issuer-signed JWT does not contain (tampered or foreign)."""


class DigestReferencedTwice(SdJwtError):
    """A digest appears more than once in the payload or Disclosures (RFC 9901 §7.1 step 4)."""


class ClaimNameClash(SdJwtError):
    """A disclosed claim name already exists in its object, plainly or from another Disclosure."""


class DisclosureKindMismatch(SdJwtError):
    """An array-element Disclosure referenced from ``_sd``, or an object-property Disclosure
    referenced from an array's ``{"...": digest}`` (RFC 9901 §7.1 step 3)."""


class InvalidVcClaims(SdJwtError):
    """The SD-JWT VC's registered claims are missing or of the wrong type (``iss``, ``vct`` …)."""


class Expired(SdJwtError):
    """The credential's ``exp`` has passed."""


class NotYetValid(SdJwtError):
    """The credential's ``nbf`` is still ahead."""


class IssuedInFuture(SdJwtError):
    """The credential's ``iat`` is ahead of ``now`` by more than the leeway."""


class KeyBindingMissing(SdJwtError):
    """Key binding was required and the presentation has no KB-JWT (or no ``cnf`` key)."""


class UnexpectedKeyBinding(SdJwtError):
    """A KB-JWT came where none was asked for: it cannot be checked, so it is not accepted."""


class KeyBindingBadSignature(SdJwtError):
    """The KB-JWT does not verify with the credential's ``cnf.jwk``: another key signed it."""


class KeyBindingMalformed(SdJwtError):
    """The KB-JWT is not a ``kb+jwt`` with integer ``iat`` and string ``aud``, ``nonce``,
    ``sd_hash``."""


class KeyBindingAudience(SdJwtError):
    """The KB-JWT's ``aud`` is not the verifier that asked."""


class KeyBindingNonce(SdJwtError):
    """The KB-JWT's ``nonce`` is not the one the verifier issued for this request."""


class KeyBindingStale(SdJwtError):
    """The KB-JWT's ``iat`` is outside the accepted window around ``now``."""


class KeyBindingSdHash(SdJwtError):
    """The KB-JWT's ``sd_hash`` is not the digest of the SD-JWT as presented."""


class HolderKeyMismatch(SdJwtError):
    """A holder tried to present with a key other than the credential's ``cnf.jwk``."""


class ClaimNotAvailable(SdJwtError):
    """A holder was asked for a claim its credential neither discloses nor shows."""
