"""SD-JWT (RFC 9901) and SD-JWT VC (draft-ietf-oauth-sd-jwt-vc): issuing, presenting with a
Key Binding JWT, and verifying. Pure: strings, keys and ``now`` in, values or
:class:`~trust.sdjwt.errors.SdJwtError` subclasses out.

- :mod:`trust.sdjwt.disclosure`: Disclosures, salts, digests.
- :mod:`trust.sdjwt.core`: the serialization, digest processing (§7.1), the KB-JWT (§7.3).
- :mod:`trust.sdjwt.vc`: the SD-JWT VC profile and :class:`~trust.sdjwt.vc.VerifiedCredential`.
- :mod:`trust.sdjwt.issue` and :mod:`trust.sdjwt.holder`: the issuer's and the holder's side.

Written here rather than on PyPI ``sd-jwt`` (0.10.4, the OpenWallet/IETF reference
implementation, last released 2024-02), which we read before deciding:
- it predates RFC 9901 and SD-JWT VC as they are now: its default ``typ`` is ``example+sd-jwt``
  and nothing checks the Issuer-signed JWT's ``typ`` (no ``dc+sd-jwt``); its verifier leaves
  ``exp``/``nbf``/``iat`` unchecked (its source says so), never checks the KB-JWT's ``iat``,
  ignores Disclosures that no digest references instead of refusing them, and checks a KB-JWT
  only for ES256 unless told otherwise;
- it signs and verifies through jwcrypto with keys it chooses from the token's ``iss`` and
  header, so our key handling (:class:`trust.jws.KeyIndex`, ``kid`` as a hint, ES256/EdDSA
  only, ``crit`` refused) and our size bounds could not be kept; errors are bare
  ``ValueError``, not one class per rule;
- it has had no release since February 2024, before RFC 9901 was final.
It is a good second opinion, though: the interop suite has it verify our credentials and
presentations, and build presentations our verifier accepts (tests/interop/test_sdjwt_interop.py),
beside node's ``@sd-jwt/sd-jwt-vc``.

Deliberately not here: credential types' disclosable fields (issuers/), OpenID4VCI/OpenID4VP,
Type Metadata, status lookups, issuer trust (chains, policy: verify/), the JWS JSON
serialization (RFC 9901 §8) and hash algorithms other than SHA-256.
"""
