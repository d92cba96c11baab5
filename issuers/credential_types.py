"""Credential types as data (the check of a subject against its type is :mod:`issuers.subjects`).

Each type is one JSON file in ``issuers/types/`` (file name = ``code``), loaded at start-up into
a :class:`TypeRegistry`. A file names the type (GB/T 36903 证照名称, GB/T 36904 证照类型代码),
says who holds it (持证主体代码类型 ``001`` USCC / ``111`` ID number and which field carries it),
and lists the subject fields with a JSON Schema fragment and a visibility:

- ``qr``: public and signed into the QR token (kept to the minimum: the QR budget is version 17);
- ``public``: may be shown by the gateway online;
- ``personal``: never in a QR, never shown without the holder's authorisation.

``disclosable`` says whether a field is selectively disclosable in the type's SD-JWT VC (a
Disclosure the holder may withhold, RFC 9901); every ``personal`` field is.

A field with ``"derived": {"from": <field>, "rule": <rule>}`` is not submitted by the agency
(:mod:`issuers.subjects` refuses it) but computed by the issuer from another field when it signs
the SD-JWT VC (:mod:`issuers.derived`: e.g. ``id_number_masked``, ``330106********1234``, for a
counter that may see only part of the number). It is disclosable, never ``qr`` (QR tokens carry
what the agency submitted), present exactly when its source is (same ``required``), and its
``schema`` describes the derived value.

Extension keys inside a field schema drive checks JSON Schema cannot express: ``x-check``
(``uscc``, ``id_number``, ``date``, ``region``), ``x-not-future`` (a date not after today),
``x-id-part`` (``birth_date`` / ``sex``: must agree with the holder's ID number) and ``x-hint``
(a zh/en description of the expected format, used in error messages).

``several_live_per_holder`` (optional, default ``false``) says whether one holder may hold more
than one live credential of the type at once: a business licence or an ID card, no; a permit
held once per premises or product, or a proof issued for each purpose, yes. Live means status
01 有效 or 02 暂扣 (suspended: it may be reinstated) and not past its end of validity; a revoked
(03–07, 99) or expired one is not (:mod:`gateway.holder_rule` applies the rule when issuing).

A subject field ``valid_from`` or ``valid_until`` with ``x-check`` ``date`` is the date printed
on the certificate and *is* the credential's validity window (``gateway.validity_window``); a
type that prints ``valid_until`` has no ``default_validity_days``.

``max_status_age_seconds`` bounds how old the status data behind a VALID answer may be for the
type (1 s to 31 days; :mod:`verify.freshness`): past it, a verifier answers STATUS_UNAVAILABLE.
A verifier role may set a stricter bound (``issuers.verifier_roles``).

The registry checks its invariants when built and names the offending file. This module does not
sign, store or display anything; it knows types only.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema_rs
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, relevance

from issuers.derived import RULES
from issuers.validation import (
    validate_uscc,
)
from trust.errors import DataError
from trust.snapshot import MAX_STATUS_AGE, MIN_STATUS_AGE, check_status_age_bound

SHIPPED_TYPES = Path(__file__).parent / "types"
VISIBILITIES = ("qr", "public", "personal")
MAX_QR_FIELDS = 3  # QR version ≤ 17 at ECC M leaves room for a few short public fields only
MAX_TYPE_FILE_BYTES = 256 * 1024
_CODE = re.compile(r"[a-z][a-z0-9-]{1,47}")
_QR_CODE = re.compile(r"[A-Z]{2,3}")
_TYPE_CODE = re.compile(r"[0-9A-HJ-NP-RTUW-Y]{18}[0-9]{3}")
_FIELD_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")
_HOLDER_CHECK = {"001": "uscc", "111": "id_number"}  # GB/T 36903 持证主体代码类型

_TEXT = {"type": "string", "minLength": 1, "maxLength": 200}
_LOCALISED = {
    "type": "object",
    "properties": {"zh": _TEXT, "en": _TEXT},
    "required": ["zh", "en"],
    "additionalProperties": False,
}
META_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "code": {"type": "string", "pattern": "^[a-z][a-z0-9-]{1,47}$"},
        "qr_code": {"type": "string", "pattern": "^[A-Z]{2,3}$"},
        "type_code": {"type": "string", "pattern": "^[0-9A-HJ-NP-RTUW-Y]{18}[0-9]{3}$"},
        "name": _LOCALISED,
        "holder_code_type": {"enum": sorted(_HOLDER_CHECK)},
        "holder_code_field": {"type": "string"},
        "holder_name_field": {"type": "string"},
        "personal": {"type": "boolean"},
        "signed_qr": {"type": "boolean"},
        "default_validity_days": {"type": ["integer", "null"], "minimum": 1, "maximum": 36500},
        "max_status_age_seconds": {
            "type": "integer",
            "minimum": MIN_STATUS_AGE,
            "maximum": MAX_STATUS_AGE,
        },
        "fields": {
            "type": "array",
            "minItems": 1,
            "maxItems": 64,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "label", "schema", "required", "visibility", "disclosable"],
                "properties": {
                    "name": {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,31}$"},
                    "label": _LOCALISED,
                    "required": {"type": "boolean"},
                    "visibility": {"enum": list(VISIBILITIES)},
                    "disclosable": {"type": "boolean"},
                    "derived": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["from", "rule"],
                        "properties": {
                            "from": {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,31}$"},
                            "rule": {"enum": sorted(RULES)},
                        },
                    },
                    "schema": {
                        "type": "object",
                        "properties": {
                            "x-check": {"enum": ["uscc", "id_number", "date", "region"]},
                            "x-not-future": {"type": "boolean"},
                            "x-id-part": {"enum": ["birth_date", "sex"]},
                            "x-hint": _LOCALISED,
                        },
                    },
                },
            },
        },
    },
}
META_SCHEMA["required"] = sorted(META_SCHEMA["properties"])  # every key, always ...
# ... but one added later, whose absence keeps the earlier meaning (one live per holder).
META_SCHEMA["properties"]["several_live_per_holder"] = {"type": "boolean"}
_META_VALIDATOR = Draft202012Validator(META_SCHEMA)


def _unbounded(schema: Mapping[str, Any], where: str) -> str | None:
    """The first string or array in ``schema`` without an upper bound (every size is bounded)."""
    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else types
    if "enum" in schema or "const" in schema:
        return None
    if "string" in types and "maxLength" not in schema:
        return f"{where} is a string without maxLength"
    if "array" in types:
        if "maxItems" not in schema:
            return f"{where} is an array without maxItems"
        items = schema.get("items")
        return _unbounded(items, f"{where}[]") if isinstance(items, Mapping) else None
    return None


def fast_field_validator(schema: Mapping[str, Any]) -> jsonschema_rs.Validator:
    """``schema`` (Draft 2020-12) in jsonschema-rs, built as ``FieldSpec.validator`` is: formats
    are annotations, not asserted (no ``format_checker`` there), and no remote ``$ref`` is
    fetched. Whether the two agree on every shipped field is tested
    (``tests/issuers/test_fast_validator.py``)."""
    return jsonschema_rs.Draft202012Validator(dict(schema), validate_formats=False, offline=True)


@dataclass(frozen=True)
class Derivation:
    """How the issuer computes a derived field: from field ``source`` by rule ``rule``."""

    source: str
    rule: str  # a key of issuers.derived.RULES (checked with the type)


@dataclass(frozen=True)
class FieldSpec:
    """One subject field of a credential type."""

    name: str
    label_zh: str
    label_en: str
    schema: Mapping[str, Any] = field(hash=False)
    required: bool
    visibility: str
    validator: Draft202012Validator = field(repr=False, compare=False, hash=False)
    # The same schema in jsonschema-rs (Rust): ~25x faster to say a value is valid (issue 13).
    # Only its "valid" is used; an invalid value's problems come from ``validator`` (their texts).
    fast_validator: jsonschema_rs.Validator = field(repr=False, compare=False, hash=False)
    disclosable: bool = False  # selectively disclosable in the SD-JWT VC
    derived: Derivation | None = None  # computed by the issuer, never submitted

    def __post_init__(self) -> None:
        if not _FIELD_NAME.fullmatch(self.name):
            raise DataError(f"a field name is a lower-case identifier, found {self.name!r}")
        if self.visibility not in VISIBILITIES:
            raise DataError(
                f"field {self.name!r}: visibility must be one of {VISIBILITIES}, "
                f"found {self.visibility!r}"
            )
        if self.visibility == "personal" and not self.disclosable:
            raise DataError(
                f"field {self.name!r} is personal: it must be disclosable (the holder decides "
                "whom to show it), found disclosable false"
            )
        if self.derived is not None and (self.visibility == "qr" or not self.disclosable):
            raise DataError(
                f"field {self.name!r} is derived: it must be disclosable and not 'qr' (QR "
                f"tokens carry what the agency submitted), found visibility "
                f"{self.visibility!r}, disclosable {self.disclosable}"
            )
        if self.derived is not None and {"x-check", "x-id-part"} & set(self.schema):
            raise DataError(
                f"field {self.name!r} is derived: x-check and x-id-part check what an agency "
                f"submits, found them on a field it may not submit"
            )

    @property
    def check(self) -> str | None:
        value = self.schema.get("x-check")
        return value if isinstance(value, str) else None

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled without its validators, built again from the schema when unpickled:
        jsonschema's hold local functions, which do not pickle (a type sent to the process that
        signs a register's chunks, :mod:`gateway.presign`)."""
        return (
            _field_spec,
            (self.name, self.label_zh, self.label_en, dict(self.schema), self.required,
             self.visibility, self.disclosable, self.derived),
        )  # fmt: skip

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FieldSpec:
        schema = dict(data["schema"])
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            raise DataError(f"field {data['name']!r}: invalid JSON Schema: {exc.message}") from exc
        return cls(
            name=data["name"],
            label_zh=data["label"]["zh"],
            label_en=data["label"]["en"],
            schema=schema,
            required=data["required"],
            visibility=data["visibility"],
            validator=Draft202012Validator(schema),
            fast_validator=fast_field_validator(schema),
            disclosable=data["disclosable"],
            derived=Derivation(data["derived"]["from"], data["derived"]["rule"])
            if "derived" in data
            else None,
        )


def _field_spec(
    name: str,
    label_zh: str,
    label_en: str,
    schema: dict[str, Any],
    required: bool,
    visibility: str,
    disclosable: bool,
    derived: Derivation | None,
) -> FieldSpec:
    """A :class:`FieldSpec` as unpickled: its validators built from its schema."""
    return FieldSpec(
        name, label_zh, label_en, schema, required, visibility,
        Draft202012Validator(schema), fast_field_validator(schema), disclosable, derived,
    )  # fmt: skip


@dataclass(frozen=True)
class CredentialType:
    """A credential type: names, codes, holder, fields. Checks its invariants when built."""

    code: str
    qr_code: str
    type_code: str
    name_zh: str
    name_en: str
    holder_code_type: str
    holder_code_field: str
    holder_name_field: str
    personal: bool
    signed_qr: bool
    default_validity_days: int | None
    fields: tuple[FieldSpec, ...]
    # How old the status data behind a VALID may be, seconds (verify.freshness); the verifier
    # role's bound applies too, the stricter wins.
    max_status_age: int = MAX_STATUS_AGE
    # May one holder hold several live credentials of this type at once (gateway.holder_rule)?
    several_live_per_holder: bool = False

    def __post_init__(self) -> None:
        if not _CODE.fullmatch(self.code):
            raise DataError(f"type code must be a lower-case slug, found {self.code!r}")
        check_status_age_bound(self.max_status_age, what="max_status_age_seconds")
        if not _QR_CODE.fullmatch(self.qr_code):
            raise DataError(f"qr_code must be 2-3 upper-case letters, found {self.qr_code!r}")
        # GB/T 36904 证照类型代码: the defining authority's USCC + a 3-digit sequence.
        if not _TYPE_CODE.fullmatch(self.type_code):
            raise DataError(f"type_code must be a USCC + 3 digits, found {self.type_code!r}")
        validate_uscc(self.type_code[:18], field="type_code")
        if self.holder_code_type not in _HOLDER_CHECK:
            raise DataError(
                f"holder_code_type must be one of {sorted(_HOLDER_CHECK)}, "
                f"found {self.holder_code_type!r}"
            )
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names):
            raise DataError(f"field names must be unique, found {names}")
        by_name = {f.name: f for f in self.fields}
        for role in ("holder_code_field", "holder_name_field"):
            holder = by_name.get(getattr(self, role))
            if holder is None or not holder.required or holder.derived is not None:
                raise DataError(
                    f"{role} {getattr(self, role)!r} must name a required field the agency "
                    f"submits; fields: {names}"
                )
        for spec in self.derived_fields:
            self._check_derivation(spec, by_name)
        wanted = _HOLDER_CHECK.get(self.holder_code_type)
        if by_name[self.holder_code_field].check != wanted:
            raise DataError(
                f"holder_code_type {self.holder_code_type} needs holder_code_field "
                f"{self.holder_code_field!r} to have x-check {wanted!r}"
            )
        for spec in self.fields:
            unbounded = _unbounded(spec.schema, f"field {spec.name!r}")
            if unbounded:
                raise DataError(f"{unbounded}: every size must be bounded")
            if spec.check == "id_number" and spec.visibility != "personal":
                raise DataError(f"field {spec.name!r} holds an ID number: it must be personal")
            part = spec.schema.get("x-id-part")
            if part is not None and wanted != "id_number":
                raise DataError(f"field {spec.name!r} has x-id-part but the holder has no ID")
            if part == "birth_date" and spec.check != "date":
                raise DataError(f"field {spec.name!r} has x-id-part birth_date: needs x-check date")
            if part == "sex" and not set(spec.schema.get("enum", ["?"])) <= {"男", "女"}:
                raise DataError(f"field {spec.name!r} has x-id-part sex: needs enum 男/女")
        printed_end = by_name.get("valid_until")
        if printed_end is not None and printed_end.check == "date" and self.default_validity_days:
            # The printed date is the credential's validity end (gateway.validity_window): a
            # default beside it is a second meaning (issue 12: a permit expired 26 days early).
            raise DataError(
                "the subject prints valid_until, which is the credential's validity end: "
                f"default_validity_days must be null, found {self.default_validity_days}"
            )
        qr = self.qr_fields
        if self.personal and (self.signed_qr or qr):
            raise DataError(
                "a personal type is shown by reference QR only: signed_qr must be false and no "
                f"field may be 'qr'; found signed_qr={self.signed_qr}, qr fields "
                f"{[f.name for f in qr]}"
            )
        if self.signed_qr != bool(qr):
            raise DataError(
                f"signed_qr is {self.signed_qr} but the type has {len(qr)} 'qr' field(s): "
                "a signed QR needs at least one and only a signed QR may have any"
            )
        if len(qr) > MAX_QR_FIELDS or any(not f.required for f in qr):
            raise DataError(
                f"at most {MAX_QR_FIELDS} 'qr' fields, all required (QR version ≤ 17); found "
                f"{[(f.name, f.required) for f in qr]}"
            )

    @staticmethod
    def _check_derivation(spec: FieldSpec, by_name: Mapping[str, FieldSpec]) -> None:
        assert spec.derived is not None
        rule = RULES.get(spec.derived.rule)
        if rule is None:
            raise DataError(
                f"field {spec.name!r}: derivation rule must be one of {sorted(RULES)}, "
                f"found {spec.derived.rule!r}"
            )
        source = by_name.get(spec.derived.source)
        wanted = rule.source_check
        if source is None or source.derived is not None or source.check != wanted:
            raise DataError(
                f"field {spec.name!r} is derived by {spec.derived.rule} from "
                f"{spec.derived.source!r}: expected a submitted field with x-check {wanted!r}, "
                f"found {'none' if source is None else repr(source.name)}"
            )
        if spec.required != source.required:
            raise DataError(
                f"field {spec.name!r} is derived from {source.name!r}: it is present exactly "
                f"when its source is, so required must be {source.required}, found "
                f"{spec.required}"
            )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CredentialType:
        """Build from a type file's parsed JSON; checks it against :data:`META_SCHEMA` first."""
        errors = sorted(_META_VALIDATOR.iter_errors(data), key=relevance)
        if errors:
            first = errors[0]
            path = "/".join(str(p) for p in first.absolute_path) or "(top level)"
            raise DataError(f"does not match the credential type schema at {path}: {first.message}")
        return cls(
            code=data["code"],
            qr_code=data["qr_code"],
            type_code=data["type_code"],
            name_zh=data["name"]["zh"],
            name_en=data["name"]["en"],
            holder_code_type=data["holder_code_type"],
            holder_code_field=data["holder_code_field"],
            holder_name_field=data["holder_name_field"],
            personal=data["personal"],
            signed_qr=data["signed_qr"],
            default_validity_days=data["default_validity_days"],
            fields=tuple(FieldSpec.from_dict(f) for f in data["fields"]),
            max_status_age=data["max_status_age_seconds"],
            several_live_per_holder=data.get("several_live_per_holder", False),
        )

    def field(self, name: str) -> FieldSpec:
        for spec in self.fields:
            if spec.name == name:
                return spec
        raise DataError(f"type {self.code} has no field {name!r}")

    @functools.cached_property
    def qr_fields(self) -> tuple[FieldSpec, ...]:
        """Fields signed into the QR token (public too)."""
        return tuple(f for f in self.fields if f.visibility == "qr")

    @functools.cached_property
    def public_fields(self) -> tuple[FieldSpec, ...]:
        """Fields the gateway may show online: ``qr`` and ``public``."""
        return tuple(f for f in self.fields if f.visibility in ("qr", "public"))

    @functools.cached_property
    def personal_fields(self) -> tuple[FieldSpec, ...]:
        return tuple(f for f in self.fields if f.visibility == "personal")

    @functools.cached_property
    def submitted_fields(self) -> tuple[FieldSpec, ...]:
        """Fields the agency submits (every field but the derived ones)."""
        return tuple(f for f in self.fields if f.derived is None)

    @functools.cached_property
    def derived_fields(self) -> tuple[FieldSpec, ...]:
        """Fields the issuer computes from another field (:mod:`issuers.derived`)."""
        return tuple(f for f in self.fields if f.derived is not None)

    def derive(self, subject: Mapping[str, Any]) -> dict[str, str]:
        """The derived fields' values for a checked ``subject`` (those whose source it has)."""
        out = {}
        for spec in self.derived_fields:
            assert spec.derived is not None
            if spec.derived.source in subject:
                rule = RULES[spec.derived.rule]
                out[spec.name] = rule.derive(
                    subject[spec.derived.source], field=spec.derived.source
                )
        return out

    @property
    def disclosable_fields(self) -> tuple[FieldSpec, ...]:
        """Fields that are Disclosures in the type's SD-JWT VC."""
        return tuple(f for f in self.fields if f.disclosable)

    @property
    def labels(self) -> dict[str, dict[str, str]]:
        return {f.name: {"zh": f.label_zh, "en": f.label_en} for f in self.fields}


class TypeRegistry:
    """The loaded credential types; codes, QR codes and type codes are unique."""

    def __init__(self, types: Iterable[CredentialType]) -> None:
        self._by_code: dict[str, CredentialType] = {}
        self._by_qr: dict[str, CredentialType] = {}
        seen_type_codes: dict[str, str] = {}
        for ctype in types:
            for index, key, what in (
                (self._by_code, ctype.code, "code"),
                (self._by_qr, ctype.qr_code, "qr_code"),
            ):
                if key in index:
                    raise DataError(f"{what} {key!r} is used by {index[key].code} and {ctype.code}")
                index[key] = ctype
            if ctype.type_code in seen_type_codes:
                raise DataError(
                    f"type_code {ctype.type_code} is used by {seen_type_codes[ctype.type_code]} "
                    f"and {ctype.code}"
                )
            seen_type_codes[ctype.type_code] = ctype.code

    @classmethod
    def load(cls, directory: Path | None = None) -> TypeRegistry:
        """Load every ``*.json`` in ``directory`` (the shipped types by default)."""
        directory = directory or SHIPPED_TYPES
        try:
            paths = sorted(directory.glob("*.json"))
        except OSError as exc:
            raise DataError(f"cannot list credential types in {directory}: {exc}") from exc
        if not paths:
            raise DataError(f"no credential type files (*.json) in {directory}")
        types = []
        for path in paths:
            try:
                raw = path.read_bytes()
                if len(raw) > MAX_TYPE_FILE_BYTES:
                    raise DataError(f"{len(raw)} bytes, at most {MAX_TYPE_FILE_BYTES} allowed")
                ctype = CredentialType.from_dict(json.loads(raw))
                if ctype.code != path.stem:
                    raise DataError(f"code {ctype.code!r} must equal the file name {path.stem!r}")
            except (OSError, ValueError, DataError) as exc:
                raise DataError(f"credential type file {path.name}: {exc}") from exc
            types.append(ctype)
        return cls(types)

    def get(self, code: str) -> CredentialType:
        try:
            return self._by_code[code]
        except (KeyError, TypeError):
            raise DataError(
                f"unknown credential type {code!r}; known types: {', '.join(sorted(self._by_code))}"
            ) from None

    def by_qr_code(self, qr_code: str) -> CredentialType:
        """The type a QR token's ``t`` claim names."""
        try:
            return self._by_qr[qr_code]
        except (KeyError, TypeError):
            raise DataError(
                f"unknown QR type code {qr_code!r}; known: {', '.join(sorted(self._by_qr))}"
            ) from None

    def __iter__(self) -> Iterator[CredentialType]:
        return iter(self._by_code.values())

    def __len__(self) -> int:
        return len(self._by_code)

    def __contains__(self, code: object) -> bool:
        return code in self._by_code
