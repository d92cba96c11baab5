"""The credential types as the API (``GET /api/v1/types``) and ``ecert types`` describe them.

Each type: its names and codes, who holds it, its subject fields (zh/en labels, required or not,
visibility, the JSON Schema fragment with its ``x-`` checks and hints), one JSON Schema for the
whole subject an agency submits, and its validity rules in words and as data (the printed dates
and the default, :mod:`gateway.validity_window`). Built from the loaded
:class:`issuers.credential_types.TypeRegistry`; a pure function of it.

Deliberately not here: loading or checking type files (``issuers.credential_types``) and the
wallet's view of the types (``gateway.wallet_metadata``).
"""

from __future__ import annotations

from typing import Any

from gateway.validity_window import printed
from issuers.credential_types import CredentialType, FieldSpec, TypeRegistry

HOLDER_CODE_TYPES = {  # GB/T 36903 持证主体代码类型
    "001": {"zh": "统一社会信用代码", "en": "unified social credit code"},
    "111": {"zh": "公民身份号码", "en": "citizen ID number"},
}


def _field(spec: FieldSpec) -> dict[str, Any]:
    hint = spec.schema.get("x-hint")
    return {
        "name": spec.name,
        "label": {"zh": spec.label_zh, "en": spec.label_en},
        "required": spec.required,
        "visibility": spec.visibility,
        "disclosable": spec.disclosable,
        "derived": (
            {"from": spec.derived.source, "rule": spec.derived.rule} if spec.derived else None
        ),
        "hint": dict(hint) if isinstance(hint, dict) else None,
        "schema": dict(spec.schema),
    }


def subject_schema(ctype: CredentialType) -> dict[str, Any]:
    """The JSON Schema of the subject an agency submits (derived fields are the issuer's)."""
    fields = ctype.submitted_fields
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"{ctype.name_zh} {ctype.name_en}",
        "type": "object",
        "properties": {f.name: {**f.schema, "title": f"{f.label_zh} {f.label_en}"} for f in fields},
        "required": [f.name for f in fields if f.required],
        "additionalProperties": False,
    }


def validity(ctype: CredentialType) -> dict[str, Any]:
    """The type's validity rules: which dates it prints and what an absent end means."""
    prints_from, prints_until = printed(ctype, "valid_from"), printed(ctype, "valid_until")
    until_required = prints_until and ctype.field("valid_until").required
    if prints_until and until_required:
        zh = "有效期截止日期即证面“有效期至”（subject.valid_until，必填）"
        en = "the validity ends on the date printed as subject.valid_until (required)"
    elif prints_until:
        zh = "有效期截止日期即证面“有效期至”（subject.valid_until）；不填为长期有效"
        en = "the validity ends on the date printed as subject.valid_until; absent: no expiry"
    elif ctype.default_validity_days:
        days = ctype.default_validity_days
        zh = f"默认自起始日起 {days} 天；可用 valid_until 另定截止日期"
        en = f"by default {days} days from valid_from; valid_until sets another end"
    else:
        zh = "默认长期有效；可用 valid_until 定截止日期"
        en = "no expiry unless valid_until is given"
    if prints_from:
        zh += "；起始日期即证面 subject.valid_from"
        en += "; it starts on the date printed as subject.valid_from"
    zh += "。valid_from / valid_until 与证面日期为同一日期，二者不一致的请求将被拒绝"
    en += (
        ". valid_from / valid_until and the printed dates are one date: a request giving two "
        "different ones is refused"
    )
    return {
        "printed_valid_from": prints_from,
        "printed_valid_until": prints_until,
        "valid_until_required": until_required,
        "default_days": ctype.default_validity_days,
        "rule": {"zh": zh, "en": en},
    }


def describe(ctype: CredentialType) -> dict[str, Any]:
    return {
        "code": ctype.code,
        "name": {"zh": ctype.name_zh, "en": ctype.name_en},
        "type_code": ctype.type_code,
        "qr_code": ctype.qr_code,
        "holder": {
            "code_type": ctype.holder_code_type,
            "code_type_name": HOLDER_CODE_TYPES[ctype.holder_code_type],
            "code_field": ctype.holder_code_field,
            "name_field": ctype.holder_name_field,
        },
        "personal": ctype.personal,
        "signed_qr": ctype.signed_qr,
        "validity": validity(ctype),
        "max_status_age_seconds": ctype.max_status_age,
        "required": [f.name for f in ctype.submitted_fields if f.required],
        "fields": [_field(f) for f in ctype.fields],
        "subject_schema": subject_schema(ctype),
    }


def catalogue(types: TypeRegistry) -> list[dict[str, Any]]:
    """Every loaded type, by code."""
    return [describe(t) for t in sorted(types, key=lambda t: t.code)]
