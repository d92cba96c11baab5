"""What a wallet reads before it asks (OpenID4VCI 1.0 §12, RFC 8414, the SD-JWT VC draft):
Credential Issuer Metadata, the authorization server's metadata, an agency's JWT VC Issuer
Metadata (its issuer id and keys) and each type's Type Metadata at its ``vct``.

Deliberately not here: offers and tokens (:mod:`gateway.wallet`), the credential endpoint
(:mod:`gateway.wallet_credential`).
"""

from __future__ import annotations

from typing import Any

from gateway import keystore
from gateway.core import Gateway
from gateway.errors import NotFound
from gateway.models import AgencyRow
from gateway.wallet import issuer_id
from issuers.wallet_types import type_metadata, vct_url
from trust.keys import ALGORITHMS, is_short_alias
from trust.oid4vci import PRE_AUTHORIZED_GRANT, SD_JWT_VC_FORMAT


def _configuration(gw: Gateway, code: str) -> dict[str, Any]:
    ctype = gw.types.get(code)
    meta = type_metadata(ctype, vct_url(gw.public_url, ctype))
    return {
        "format": SD_JWT_VC_FORMAT,
        "vct": meta["vct"],
        "cryptographic_binding_methods_supported": ["jwk"],
        "credential_signing_alg_values_supported": list(ALGORITHMS),
        "proof_types_supported": {"jwt": {"proof_signing_alg_values_supported": list(ALGORITHMS)}},
        "credential_metadata": {"display": meta["display"], "claims": meta["claims"]},
    }


def credential_issuer_metadata(gw: Gateway) -> dict[str, Any]:
    """Credential Issuer Metadata (§12.2); this gateway is its own authorization server."""
    base = gw.public_url.rstrip("/")
    with gw.sessions() as session:
        city = gw.city(session).name
    return {
        "credential_issuer": base,
        "credential_endpoint": f"{base}/oid4vci/credential",
        "nonce_endpoint": f"{base}/oid4vci/nonce",
        "display": [
            {"name": f"{city}电子证照网关", "locale": "zh-CN"},
            {"name": f"{city} e-certificate gateway", "locale": "en-US"},
        ],
        "credential_configurations_supported": {
            ctype.code: _configuration(gw, ctype.code) for ctype in gw.types
        },
    }


def authorization_server_metadata(gw: Gateway) -> dict[str, Any]:
    """RFC 8414 metadata: only the token endpoint, for the pre-authorised code grant."""
    base = gw.public_url.rstrip("/")
    return {
        "issuer": base,
        "token_endpoint": f"{base}/oid4vci/token",
        "grant_types_supported": [PRE_AUTHORIZED_GRANT],
        "response_types_supported": [],
        "pre-authorized_grant_anonymous_access_supported": True,
    }


def jwt_vc_issuer(gw: Gateway, agency_id: str) -> dict[str, Any]:
    """JWT VC Issuer Metadata (SD-JWT VC draft §5): the agency's issuer id and its keys."""
    with gw.sessions() as session:
        if session.get(AgencyRow, agency_id) is None:
            raise NotFound(f"no agency {agency_id!r}")
    keys = [
        k for k in keystore.jwks(gw)["keys"] if k.get("iss") == agency_id and not is_short_alias(k)
    ]
    return {"issuer": issuer_id(gw.public_url, agency_id), "jwks": {"keys": keys}}


def type_metadata_for(gw: Gateway, code: str) -> dict[str, Any]:
    if code not in gw.types:
        raise NotFound(f"no credential type {code!r}")
    ctype = gw.types.get(code)
    return type_metadata(ctype, vct_url(gw.public_url, ctype))
