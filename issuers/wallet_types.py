"""A credential type as an SD-JWT VC: its ``vct`` URL, its Type Metadata and the claims and
Disclosures of one credential.

Type Metadata follows the SD-JWT VC draft (§6, "SD-JWT VC Type Metadata"): ``vct``, ``name``,
``display`` per locale (zh-CN first, then en-US) and ``claims``, each with its ``path``, its
display labels, ``mandatory`` and ``sd`` (``always`` for a disclosable field, ``never``
otherwise: the issuer never makes a non-disclosable field a Disclosure, nor the reverse).

Deliberately not here: signing (:mod:`trust.sdjwt`), where the gateway is (the caller passes
its public URL), rendering (no ``rendering`` member: wallets show the display names).
"""

from __future__ import annotations

from typing import Any

from issuers.credential_types import CredentialType

VCT_PATH = "/vct/"
LOCALES = ("zh-CN", "en-US")


def vct_url(public_url: str, ctype: CredentialType) -> str:
    """The type's ``vct``: a URL of the issuing gateway that serves its Type Metadata."""
    return f"{public_url.rstrip('/')}{VCT_PATH}{ctype.code}"


def _display(zh: str, en: str, key: str) -> list[dict[str, str]]:
    return [{"locale": LOCALES[0], key: zh}, {"locale": LOCALES[1], key: en}]


def type_metadata(ctype: CredentialType, vct: str) -> dict[str, Any]:
    """The Type Metadata document served at ``vct``."""
    return {
        "vct": vct,
        "name": f"{ctype.name_zh} {ctype.name_en}",
        "description": f"电子证照 {ctype.type_code} · electronic certificate (GB/T 36904 type)",
        "display": _display(ctype.name_zh, ctype.name_en, "name"),
        "claims": [
            {
                "path": [spec.name],
                "display": _display(spec.label_zh, spec.label_en, "label"),
                "mandatory": spec.required,
                "sd": "always" if spec.disclosable else "never",
            }
            for spec in ctype.fields
        ],
    }


def credential_claims(
    ctype: CredentialType, subject: dict[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """The claims of a credential's SD-JWT VC (its subject's fields, in the type's order) and
    the names of those that become Disclosures."""
    claims = {spec.name: subject[spec.name] for spec in ctype.fields if spec.name in subject}
    return claims, [spec.name for spec in ctype.disclosable_fields if spec.name in claims]
