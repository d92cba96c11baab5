"""Verifier roles as data: which fields of which credential types a counter of a role may ask a
wallet for (``issuers/roles/verifier-roles.json``). A hotel desk asks for a name; a police
counter for the full ID number. Each role also bounds how old the status data behind a VALID
may be at its counters (``max_status_age_seconds``, :mod:`verify.freshness`): a police counter
10 minutes, a bank counter an hour; the credential type's own bound applies too.

Every field a role names must be a field a wallet can show of a known type: a selectively
disclosable one, or a public field of a non-personal type (a business licence's name and USCC are
in plain view in its SD-JWT VC: a bank counter asks an authorised delegate for them, 委托用证). A
role that could ask for something else is refused when the table loads.

Deliberately not here: granting a role by an OpenID Federation trust mark (``gateway.trustmarks``:
the mark carries the role's ``may_request``, the registered role stays the counter's
``ecert_verifier`` metadata, signed by its city), the request itself (:mod:`trust.oid4vp`), where
roles are stored (gateway).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from issuers.credential_types import TypeRegistry
from trust.errors import DataError, FieldError
from trust.snapshot import MAX_STATUS_AGE, check_status_age_bound

SHIPPED_ROLES = Path(__file__).parent / "roles" / "verifier-roles.json"
MAX_ROLES_FILE_BYTES = 64 * 1024
MAX_ROLES = 100


@dataclass(frozen=True)
class VerifierRole:
    code: str
    name_zh: str
    name_en: str
    may_request: Mapping[str, frozenset[str]]  # type code -> disclosable field names
    # How old status data behind a VALID may be at a counter of this role, seconds
    # (verify.freshness); the credential type's bound applies too, the stricter wins.
    max_status_age: int = MAX_STATUS_AGE

    def check_request(self, credential_type: str, fields: Iterable[str]) -> None:
        """Raise :class:`FieldError` unless this role may ask for every one of ``fields`` of
        ``credential_type`` (and for at least one)."""
        wanted = sorted(set(fields))
        allowed = self.may_request.get(credential_type)
        if allowed is None:
            raise FieldError.single(
                "type",
                "not_allowed_by_role",
                f"角色“{self.name_zh}”不能索取 {credential_type}；"
                f"可索取：{sorted(self.may_request)}",
                f"role {self.code} may not request {credential_type!r}; "
                f"expected one of {sorted(self.may_request)}",
            )
        extra = [f for f in wanted if f not in allowed]
        if extra or not wanted:
            raise FieldError.single(
                "fields",
                "not_allowed_by_role",
                f"角色“{self.name_zh}”不能索取字段 {extra or '（空）'}；可索取：{sorted(allowed)}",
                f"role {self.code} may request some of {sorted(allowed)} of {credential_type}, "
                f"found {extra or '(none)'}",
            )

    def to_metadata(self) -> dict[str, list[str]]:
        return {t: sorted(f) for t, f in sorted(self.may_request.items())}


class RoleTable:
    """The loaded roles, each checked against the credential types."""

    def __init__(self, roles: Iterable[VerifierRole]) -> None:
        self._by_code: dict[str, VerifierRole] = {}
        for role in roles:
            if role.code in self._by_code:
                raise DataError(f"verifier role {role.code!r} is defined twice")
            self._by_code[role.code] = role

    @classmethod
    def load(cls, types: TypeRegistry, path: Path | None = None) -> RoleTable:
        path = path or SHIPPED_ROLES
        try:
            raw = path.read_bytes()
            if len(raw) > MAX_ROLES_FILE_BYTES:
                raise DataError(f"{len(raw)} bytes, at most {MAX_ROLES_FILE_BYTES} allowed")
            listed = json.loads(raw)["roles"]
            if not isinstance(listed, list) or not 1 <= len(listed) <= MAX_ROLES:
                raise DataError(f"expected a list of 1 to {MAX_ROLES} roles")
            return cls(_role(item, types) for item in listed)
        except (OSError, ValueError, KeyError, TypeError, DataError) as exc:
            raise DataError(f"verifier role file {path.name}: {exc}") from exc

    def get(self, code: str) -> VerifierRole:
        role = self._by_code.get(code)
        if role is None:
            raise FieldError.single(
                "role",
                "unknown_role",
                f"未知的核验角色 {code!r}；可选：{sorted(self._by_code)}",
                f"unknown verifier role {code!r}; expected one of {sorted(self._by_code)}",
            )
        return role

    def __iter__(self) -> Iterator[VerifierRole]:
        return iter(self._by_code.values())


def _role(item: Mapping[str, object], types: TypeRegistry) -> VerifierRole:
    code, name, asks = item["code"], item["name"], item["may_request"]
    if not isinstance(code, str) or not isinstance(name, dict) or not isinstance(asks, dict):
        raise DataError(f"expected code, name {{zh, en}} and may_request, found {item!r:.120}")
    may: dict[str, frozenset[str]] = {}
    for type_code, fields in asks.items():
        ctype = types.get(type_code)
        showable = {
            f.name
            for f in ctype.fields
            if f.disclosable or (not ctype.personal and f.visibility != "personal")
        }
        if not isinstance(fields, list) or not fields or set(fields) - showable:
            raise DataError(
                f"role {code}: expected some of {sorted(showable)} of {type_code}, "
                f"found {fields!r:.120}"
            )
        may[type_code] = frozenset(fields)
    if not may:
        raise DataError(f"role {code}: may_request names no credential type")
    age = check_status_age_bound(
        item.get("max_status_age_seconds"), what=f"role {code}: max_status_age_seconds"
    )
    return VerifierRole(
        code=code, name_zh=str(name["zh"]), name_en=str(name["en"]), may_request=may,
        max_status_age=age,
    )  # fmt: skip
