"""The credential token's wire format, shared by issuing and verifying.

A credential is a compact JWS (RFC 7515), header ``{"alg", "kid", "typ": "ecert+jwt"}`` with
the short ``kid`` (first 8 bytes of the RFC 7638 thumbprint), and a payload kept short for the QR
budget (version ≤ 17 at ECC M):

=========  =====================================================================
``t``      credential type's short code (``BL`` = business-licence …)
``jti``    ``{流水号}.{版本号}``: with the type code and the issuer's code it rebuilds the
           GB/T 36904 证照标识
``iat``    issued at (Unix seconds)
``nbf``    valid from, only when later than ``iat``
``exp``    valid until; absent for 长期 (no expiry)
``status`` Token Status List reference ``{"status_list": {"idx", "uri"}}``
``c``      the public fields the type's file marks ``qr``
=========  =====================================================================
"""

from __future__ import annotations

CREDENTIAL_TYP = "ecert+jwt"
CLAIM_TYPE = "t"
CLAIM_SERIAL = "jti"
CLAIM_FIELDS = "c"
MAX_QR_FIELDS = 16
