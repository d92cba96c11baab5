"""A credential type as an SD-JWT VC: its ``vct`` URL, its Type Metadata and the claims and
Disclosures of one credential.

Type Metadata follows the SD-JWT VC draft (§6, "SD-JWT VC Type Metadata"): ``vct``, ``name``,
``display`` per locale (zh-CN first, then en-US) and ``claims``, each with its ``path``, its
display labels, ``mandatory`` and ``sd`` (``always`` for a disclosable field, ``never``
otherwise: the issuer never makes a non-disclosable field a Disclosure, nor the reverse). A
derived field (``id_number_masked``) is a claim like the others, computed here from its source
when the credential is made; its display says how (``description``).

Deliberately not here: signing (:mod:`trust.sdjwt`), where the gateway is (the caller passes
its public URL), rendering (no ``rendering`` member: wallets show the display names).
"""

from __future__ import annotations

from typing import Any

from issuers.credential_types import CredentialType, FieldSpec
from issuers.derived import RULES

VCT_PATH = "/vct/"
LOCALES = ("zh-CN", "en-US")


def vct_url(public_url: str, ctype: CredentialType) -> str:
    """The type's ``vct``: a URL of the issuing gateway that serves its Type Metadata."""
    return f"{public_url.rstrip('/')}{VCT_PATH}{ctype.code}"


def _display(zh: str, en: str, key: str) -> list[dict[str, str]]:
    return [{"locale": LOCALES[0], key: zh}, {"locale": LOCALES[1], key: en}]


def _claim_display(ctype: CredentialType, spec: FieldSpec) -> list[dict[str, str]]:
    display = _display(spec.label_zh, spec.label_en, "label")
    if spec.derived is not None:
        rule, source = RULES[spec.derived.rule], ctype.field(spec.derived.source)
        display[0]["description"] = rule.description_zh.format(source=source.label_zh)
        display[1]["description"] = rule.description_en.format(source=source.name)
    return display


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
                "display": _claim_display(ctype, spec),
                "mandatory": spec.required,
                "sd": "always" if spec.disclosable else "never",
            }
            for spec in ctype.fields
        ],
    }


def credential_claims(
    ctype: CredentialType, subject: dict[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """The claims of a credential's SD-JWT VC (its subject's fields and the fields derived from
    them, in the type's order) and the names of those that become Disclosures."""
    given = {**subject, **ctype.derive(subject)}
    claims = {spec.name: given[spec.name] for spec in ctype.fields if spec.name in given}
    return claims, [spec.name for spec in ctype.disclosable_fields if spec.name in claims]
