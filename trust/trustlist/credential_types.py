"""Credential types as a trust list describes them: what a verifier needs to show one.

A verifier in another region does not know the issuing region's credential types, and an offline
kiosk ships without issuing code, so the signed trust list carries, for the types its issuers may
issue, the display data of :class:`trust.snapshot.TypeInfo` (the optional ``types`` member)::

    {"code": "business-licence", "qr_code": "BL", "type_code": "11100000000013338W001",
     "name": {"zh": "营业执照", "en": "Business licence"},
     "fields": [{"name": "name", "label": {"zh": "名称", "en": "Name"}}, ...],
     "max_status_age": 86400}

``max_status_age`` (optional, whole seconds) is how old status data behind a VALID may be for
the type (:mod:`verify.freshness`): an offline kiosk applies the issuing side's bound.

Types are sorted by ``code``; fields keep the order the issuing region gave them. Every size is
bounded (the type files' own bounds: 64 fields, 200-character names and labels).

Deliberately not here: issuing rules (schemas, visibility, holder checks: ``issuers/``), and
which types a gateway describes (the compiling gateway's registry, ``gateway.trustsync``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from trust.snapshot import MAX_STATUS_AGE, MIN_STATUS_AGE, FieldLabel, TypeInfo
from trust.trustlist.errors import TrustListError
from trust.trustlist.fields import Fields, show

MAX_LIST_TYPES = 256
MAX_TYPE_FIELDS = 64
MAX_CODE = 48  # a type's code, ``[a-z][a-z0-9-]{1,47}`` in the type files
MAX_QR_CODE = 8  # the token's ``t`` claim, 2 or 3 capitals in the type files
MAX_TYPE_CODE = 32  # GB/T 36904 证照类型代码, 21 characters
MAX_FIELD_NAME = 32
MAX_NAME = 200  # a type's name or a field's label, in one language
_TYPE_MEMBERS = frozenset({"code", "qr_code", "type_code", "name", "fields"})
# personal absent: false; max_status_age absent: no bound but the status list's exp (lists
# signed before either existed)
_OPTIONAL_TYPE_MEMBERS = frozenset({"personal", "max_status_age"})
_LOCALISED = frozenset({"zh", "en"})


def _text_ok(value: object, max_length: int) -> bool:
    return isinstance(value, str) and 0 < len(value) <= max_length


def check_types(types: tuple[TypeInfo, ...], *, issued: frozenset[str]) -> None:
    """The invariants of a list's ``types``: bounded, sorted by ``code`` without duplicates,
    one type per QR code, and each one a type some entry of the list may issue (``issued``)."""
    if len(types) > MAX_LIST_TYPES:
        raise TrustListError(
            f"trust list describes {len(types)} credential types, at most {MAX_LIST_TYPES} allowed"
        )
    qr_owner: dict[str, str] = {}
    previous: str | None = None
    for t in types:
        _check_type(t)
        if previous is not None and t.code <= previous:
            raise TrustListError(
                f"expected trust list types sorted by code without duplicates, found "
                f"{show(t.code)} after {show(previous)}"
            )
        previous = t.code
        if qr_owner.setdefault(t.qr_code, t.code) != t.code:
            raise TrustListError(
                f"expected one trust list type per QR code, found {show(t.qr_code)} for "
                f"{show(qr_owner[t.qr_code])} and {show(t.code)}"
            )
        if t.code not in issued:
            raise TrustListError(
                f"expected trust list types to describe only types its entries may issue "
                f"({show(sorted(issued))}), found {show(t.code)}"
            )


def _check_type(t: TypeInfo) -> None:
    where = f"trust list type {show(t.code)}"
    for name, limit in (
        ("code", MAX_CODE),
        ("qr_code", MAX_QR_CODE),
        ("type_code", MAX_TYPE_CODE),
        ("name_zh", MAX_NAME),
        ("name_en", MAX_NAME),
    ):
        if not _text_ok(getattr(t, name), limit):
            raise TrustListError(
                f"expected {where} {name} to be a non-empty string of at most {limit} "
                f"characters, found {show(getattr(t, name))}"
            )
    if len(t.labels) > MAX_TYPE_FIELDS:
        raise TrustListError(
            f"expected {where} to label at most {MAX_TYPE_FIELDS} fields, found {len(t.labels)}"
        )
    seen: set[str] = set()
    for label in t.labels:
        if not (
            _text_ok(label.name, MAX_FIELD_NAME)
            and _text_ok(label.zh, MAX_NAME)
            and _text_ok(label.en, MAX_NAME)
        ):
            raise TrustListError(
                f"expected {where} fields with a name of at most {MAX_FIELD_NAME} characters "
                f"and zh/en labels of at most {MAX_NAME}, found {show(label)}"
            )
        if label.name in seen:
            raise TrustListError(f"expected {where} to label field {show(label.name)} once")
        seen.add(label.name)


def types_to_json(types: Iterable[TypeInfo]) -> list[dict[str, Any]]:
    return [
        {
            "code": t.code,
            "qr_code": t.qr_code,
            "type_code": t.type_code,
            "name": {"zh": t.name_zh, "en": t.name_en},
            "fields": [{"name": f.name, "label": {"zh": f.zh, "en": f.en}} for f in t.labels],
            **({"personal": True} if t.personal else {}),
            **({} if t.max_status_age is None else {"max_status_age": t.max_status_age}),
        }
        for t in types
    ]


def _localised(f: Fields, name: str) -> tuple[str, str]:
    both = Fields(f.raw(name), what=f"{f.what} {name}", required=_LOCALISED, error=f.error)
    return both.text("zh", max_length=MAX_NAME), both.text("en", max_length=MAX_NAME)


def types_from_json(
    raw: object, *, where: str = "trust list types", error: type[TrustListError] = TrustListError
) -> tuple[TypeInfo, ...]:
    """Read a ``types`` member, every string and list bounded before it is used."""
    if not isinstance(raw, list) or len(raw) > MAX_LIST_TYPES:
        raise error(f"expected {where} to be a list of at most {MAX_LIST_TYPES} types, "
                    f"found {show(raw)}")  # fmt: skip
    types = []
    for i, item in enumerate(raw):
        f = Fields(item, what=f"{where}[{i}]", required=_TYPE_MEMBERS,
                   optional=_OPTIONAL_TYPE_MEMBERS, error=error)  # fmt: skip
        labels = []
        for j, field in enumerate(f.items("fields", max_items=MAX_TYPE_FIELDS)):
            one = Fields(field, what=f"{f.what} fields[{j}]", required=frozenset({"name", "label"}),
                         error=error)  # fmt: skip
            zh, en = _localised(one, "label")
            labels.append(FieldLabel(one.text("name", max_length=MAX_FIELD_NAME), zh, en))
        name_zh, name_en = _localised(f, "name")
        types.append(
            TypeInfo(
                code=f.text("code", max_length=MAX_CODE),
                qr_code=f.text("qr_code", max_length=MAX_QR_CODE),
                type_code=f.text("type_code", max_length=MAX_TYPE_CODE),
                name_zh=name_zh,
                name_en=name_en,
                labels=tuple(labels),
                personal=_flag(f, "personal"),
                max_status_age=f.integer(
                    "max_status_age", minimum=MIN_STATUS_AGE, maximum=MAX_STATUS_AGE
                )
                if f.has("max_status_age")
                else None,
            )
        )
    return tuple(types)


def _flag(f: Fields, name: str) -> bool:
    """An optional boolean member (absent: false)."""
    if not f.has(name):
        return False
    value = f.raw(name)
    if not isinstance(value, bool):
        raise f.fail(name, "true or false")
    return value
