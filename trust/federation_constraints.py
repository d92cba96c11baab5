"""Trust chain constraints (OpenID Federation 1.0 §6.2): parse a ``constraints`` claim, check it.

- ``max_path_length`` (§6.2.1): intermediates allowed between the entity setting it and the
  chain subject.
- ``naming_constraints`` (§6.2.2) on the Entity Identifiers of every subordinate on the path.
  An entry beginning with ``http://`` or ``https://`` is our URL-prefix form: it matches that
  Entity Identifier and everything below it on a ``/`` boundary (so ``http://127.0.0.1:9101``
  matches ``http://127.0.0.1:9101/agencies/a`` but neither ``http://127.0.0.1:91010`` nor
  ``http://127.0.0.1:9102``: loopback cities on different ports are told apart). Any other entry
  has the spec's RFC 5280 host semantics: ``host.example`` is that host, ``.example`` any host
  below it (not ``example`` itself). ``excluded`` wins over ``permitted``.
- ``allowed_entity_types`` (§6.2.3) on the chain subject's metadata.

Deliberate difference from §6.2.3: an entity type outside ``allowed_entity_types`` is refused
with :class:`ConstraintViolation` instead of silently removed: the product wants a clear failure.
Unknown constraint parameters are ignored (§6.2). Pure; no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from trust.federation_common import (
    FEDERATION_ENTITY,
    MAX_CHAIN_DEPTH,
    MAX_ENTITY_TYPES,
    MAX_LIST_ITEMS,
    ConstraintViolation,
    MalformedStatement,
    check_entity_id,
    check_name_list,
    entity_host,
    is_int,
    show,
)

_HOST_CONSTRAINT = re.compile(r"\.?[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?")
_URL_PREFIXES = ("http://", "https://")


def _check_entry(value: object, what: str) -> str:
    if isinstance(value, str) and value.startswith(_URL_PREFIXES):
        return check_entity_id(value, f"a URL prefix in {what}")
    if (
        not isinstance(value, str)
        or not _HOST_CONSTRAINT.fullmatch(value)
        or ".." in value
        or "-." in value
        or ".-" in value
    ):
        raise MalformedStatement(
            f"each of {what} must be a host name, '.domain' or an http(s) URL prefix, "
            f"found {show(value)}"
        )
    return value


def _matches(entry: str, entity_id: str) -> bool:
    if entry.startswith(_URL_PREFIXES):
        # URL prefix on a path boundary; both sides are canonical (no trailing '/').
        return entity_id == entry or entity_id.startswith(entry + "/")
    host = entity_host(entity_id)
    if entry.startswith("."):
        return host.endswith(entry)  # RFC 5280 §4.2.1.10: one or more labels, not the domain
    return host == entry


@dataclass(frozen=True)
class NamingConstraints:
    """``permitted`` (``None``: no restriction) and ``excluded`` name subtrees (§6.2.2)."""

    permitted: tuple[str, ...] | None = None
    excluded: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.permitted is not None and not self.permitted:
            raise MalformedStatement(
                "naming_constraints.permitted must name at least one subtree (omit it to "
                "permit all), found []"
            )
        for entry in (*(self.permitted or ()), *self.excluded):
            _check_entry(entry, "naming_constraints")

    def violation(self, entity_id: str) -> str | None:
        """Why ``entity_id`` breaks these constraints, or ``None`` if it does not."""
        for entry in self.excluded:
            if _matches(entry, entity_id):
                return f"{entity_id} is in the excluded subtree {entry!r}"
        if self.permitted is not None and not any(_matches(e, entity_id) for e in self.permitted):
            return f"{entity_id} is outside the permitted subtrees {list(self.permitted)}"
        return None


@dataclass(frozen=True)
class Constraints:
    """A Subordinate Statement's ``constraints`` claim (§3.3, §6.2), checked when built."""

    max_path_length: int | None = None
    naming_constraints: NamingConstraints | None = None
    allowed_entity_types: frozenset[str] | None = None

    def __post_init__(self) -> None:
        if self.max_path_length is not None and not (
            is_int(self.max_path_length) and 0 <= self.max_path_length <= MAX_CHAIN_DEPTH
        ):
            raise MalformedStatement(
                f"max_path_length must be an integer from 0 to {MAX_CHAIN_DEPTH}, "
                f"found {show(self.max_path_length)}"
            )
        if self.allowed_entity_types is not None and FEDERATION_ENTITY in self.allowed_entity_types:
            # §6.2.3: always allowed, and MUST NOT be listed.
            raise MalformedStatement(
                f"allowed_entity_types must not list {FEDERATION_ENTITY} (it is always allowed)"
            )

    @classmethod
    def from_claim(cls, claim: object) -> Constraints:
        if not isinstance(claim, dict):
            raise MalformedStatement(f"constraints must be a JSON object, found {show(claim)}")
        naming = claim.get("naming_constraints")
        if naming is not None:
            if not isinstance(naming, dict):
                raise MalformedStatement(
                    f"naming_constraints must be a JSON object, found {show(naming)}"
                )
            lists = {}
            for member in ("permitted", "excluded"):
                value = naming.get(member)
                if value is not None and (
                    not isinstance(value, list) or len(value) > MAX_LIST_ITEMS
                ):
                    raise MalformedStatement(
                        f"naming_constraints.{member} must be an array of at most "
                        f"{MAX_LIST_ITEMS} names, found {show(value)}"
                    )
                lists[member] = (
                    None
                    if value is None
                    else tuple(_check_entry(v, f"naming_constraints.{member}") for v in value)
                )
            naming = NamingConstraints(
                permitted=lists["permitted"], excluded=lists["excluded"] or ()
            )
        types = claim.get("allowed_entity_types")
        return cls(
            max_path_length=claim.get("max_path_length"),
            naming_constraints=naming,
            allowed_entity_types=None
            if types is None
            else frozenset(
                check_name_list(
                    types, "allowed_entity_types", MalformedStatement, max_items=MAX_ENTITY_TYPES
                )
            ),
        )

    def to_claim(self) -> dict[str, Any]:
        claim: dict[str, Any] = {}
        if self.max_path_length is not None:
            claim["max_path_length"] = self.max_path_length
        if self.naming_constraints is not None:
            naming: dict[str, list[str]] = {}
            if self.naming_constraints.permitted is not None:
                naming["permitted"] = list(self.naming_constraints.permitted)
            if self.naming_constraints.excluded:
                naming["excluded"] = list(self.naming_constraints.excluded)
            claim["naming_constraints"] = naming
        if self.allowed_entity_types is not None:
            claim["allowed_entity_types"] = sorted(self.allowed_entity_types)
        return claim

    def check(
        self, *, setter: str, subordinates: Sequence[str], subject_types: Iterable[str]
    ) -> None:
        """Check the constraints ``setter`` placed on its subordinates on one chain (§6.2).

        ``subordinates`` are the Entity Identifiers below ``setter``, chain subject first and
        ``setter``'s immediate subordinate last; ``subject_types`` the subject's entity types.
        """
        subject = subordinates[0]
        intermediates = list(subordinates[1:])
        if self.max_path_length is not None and len(intermediates) > self.max_path_length:
            raise ConstraintViolation(
                f"max_path_length {self.max_path_length} set by {setter}: expected at most "
                f"{self.max_path_length} intermediate(s) between it and {subject}, found "
                f"{len(intermediates)} {intermediates}"
            )
        if self.naming_constraints is not None:
            for entity_id in subordinates:
                why = self.naming_constraints.violation(entity_id)
                if why is not None:
                    raise ConstraintViolation(f"naming_constraints set by {setter}: {why}")
        if self.allowed_entity_types is not None:
            extra = sorted(set(subject_types) - self.allowed_entity_types - {FEDERATION_ENTITY})
            if extra:
                raise ConstraintViolation(
                    f"allowed_entity_types set by {setter}: {subject} has entity type(s) {extra}, "
                    f"expected only {sorted(self.allowed_entity_types)} (and {FEDERATION_ENTITY})"
                )
