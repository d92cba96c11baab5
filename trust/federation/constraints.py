"""Trust chain constraints (OpenID Federation 1.0 §6.2): parse a ``constraints`` claim, check it.

- ``max_path_length`` (§6.2.1): intermediates allowed between the entity setting it and the
  chain subject.
- ``naming_constraints`` (§6.2.2) on the Entity Identifiers of every subordinate on the path,
  with the RFC 5280 §4.2.1.10 domain name syntax §6.2.2 adopts, applied to the host part of
  the Entity Identifier and compared case-insensitively: ``host.example`` "specifies a host"
  (that host only, any port and path), ``.example`` "MAY be expanded with one or more labels"
  (any host below it, not ``example`` itself). ``excluded`` wins over ``permitted``.
- ``ecert_url_prefixes`` (our own constraint parameter, §6.2: "Additional constraint
  parameters MAY be defined"; others ignore it): ``permitted`` / ``excluded`` http(s) URL
  prefixes, each matching that Entity Identifier and everything below it on a ``/`` boundary
  (``http://127.0.0.1:9101`` matches ``http://127.0.0.1:9101/agencies/a`` but neither
  ``http://127.0.0.1:91010`` nor ``http://127.0.0.1:9102``). Host names cannot tell apart two
  cities on one host (loopback ports, or paths under one domain); this can.
- ``allowed_entity_types`` (§6.2.3) on the chain subject's metadata.

Backward compatibility: statements our gateways signed before ``ecert_url_prefixes`` existed
carry URL prefixes inside ``naming_constraints``; such entries are still read, with the prefix
meaning, so those statements keep validating until they expire. Nothing here writes them.

Deliberate difference from §6.2.3: an entity type outside ``allowed_entity_types`` is refused
with :class:`ConstraintViolation` instead of silently removed: the product wants a clear failure.
Unknown constraint parameters are ignored (§6.2). Pure; no I/O.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from trust.federation.common import (
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

URL_PREFIXES = "ecert_url_prefixes"  # our constraint parameter (see the module docstring)
_HOST_CONSTRAINT = re.compile(r"\.?[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?")
_SCHEMES = ("http://", "https://")


def _is_url(value: object) -> bool:
    return isinstance(value, str) and value.startswith(_SCHEMES)


def _host_entry(value: object, what: str) -> str:
    """An RFC 5280 §4.2.1.10 domain name constraint, lower-cased (DNS names compare
    case-insensitively)."""
    host = value.lower() if isinstance(value, str) else value
    if (
        not isinstance(host, str)
        or not _HOST_CONSTRAINT.fullmatch(host)
        or ".." in host
        or "-." in host
        or ".-" in host
    ):
        raise MalformedStatement(
            f"each of {what} must be a host name or a '.domain', found {show(value)}"
        )
    return host


def _host_matches(entry: str, entity_id: str) -> bool:
    host = entity_host(entity_id)
    if entry.startswith("."):
        return host.endswith(entry)  # §6.2.2: one or more labels, not the domain itself
    return host == entry  # §6.2.2: "it specifies a host"


def _prefix_matches(entry: str, entity_id: str) -> bool:
    # On a path boundary; both sides are canonical Entity Identifiers (no trailing '/').
    return entity_id == entry or entity_id.startswith(entry + "/")


@dataclass(frozen=True)
class _Subtrees(ABC):
    """``permitted`` (``None``: no restriction) and ``excluded`` name subtrees; a subclass says
    what an entry is (:meth:`_entry`) and what it covers (:meth:`_matches`)."""

    CLAIM: ClassVar[str]
    permitted: tuple[str, ...] | None = None
    excluded: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.permitted is not None and not self.permitted:
            raise MalformedStatement(
                f"{self.CLAIM}.permitted must name at least one subtree (omit it to permit "
                "all), found []"
            )
        # Entries are kept in their normal form (host names lower-cased).
        if self.permitted is not None:
            permitted = tuple(self._entry(e, f"{self.CLAIM}.permitted") for e in self.permitted)
            object.__setattr__(self, "permitted", permitted)
        excluded = tuple(self._entry(e, f"{self.CLAIM}.excluded") for e in self.excluded)
        object.__setattr__(self, "excluded", excluded)

    @classmethod
    @abstractmethod
    def _entry(cls, value: object, what: str) -> str:
        """``value`` as an entry in its normal form, or :class:`MalformedStatement`."""

    @staticmethod
    @abstractmethod
    def _matches(entry: str, entity_id: str) -> bool:
        """Whether ``entry`` covers ``entity_id``."""

    @classmethod
    def from_claim(cls, claim: object) -> Self:
        if not isinstance(claim, dict):
            raise MalformedStatement(f"{cls.CLAIM} must be a JSON object, found {show(claim)}")
        lists: dict[str, tuple[str, ...] | None] = {}
        for member in ("permitted", "excluded"):
            value = claim.get(member)
            if value is not None and (not isinstance(value, list) or len(value) > MAX_LIST_ITEMS):
                raise MalformedStatement(
                    f"{cls.CLAIM}.{member} must be an array of at most {MAX_LIST_ITEMS} names, "
                    f"found {show(value)}"
                )
            lists[member] = (
                None
                if value is None
                else tuple(cls._entry(v, f"{cls.CLAIM}.{member}") for v in value)
            )
        return cls(permitted=lists["permitted"], excluded=lists["excluded"] or ())

    def to_claim(self) -> dict[str, list[str]]:
        claim: dict[str, list[str]] = {}
        if self.permitted is not None:
            claim["permitted"] = list(self.permitted)
        if self.excluded:
            claim["excluded"] = list(self.excluded)
        return claim

    def violation(self, entity_id: str) -> str | None:
        """Why ``entity_id`` breaks these constraints, or ``None`` if it does not."""
        for entry in self.excluded:
            if self._matches(entry, entity_id):
                return f"{entity_id} is in the excluded subtree {entry!r}"
        if self.permitted is not None and not any(
            self._matches(e, entity_id) for e in self.permitted
        ):
            return f"{entity_id} is outside the permitted subtrees {list(self.permitted)}"
        return None


@dataclass(frozen=True)
class NamingConstraints(_Subtrees):
    """§6.2.2 ``naming_constraints``: host names and ``.domain`` subtrees (and, read from
    statements our gateways signed earlier, URL prefixes)."""

    CLAIM: ClassVar[str] = "naming_constraints"

    @classmethod
    def _entry(cls, value: object, what: str) -> str:
        if _is_url(value):  # our earlier statements: a URL prefix (see the module docstring)
            return check_entity_id(value, f"a URL prefix in {what}")
        return _host_entry(value, what)

    @staticmethod
    def _matches(entry: str, entity_id: str) -> bool:
        if entry.startswith(_SCHEMES):
            return _prefix_matches(entry, entity_id)
        return _host_matches(entry, entity_id)

    @classmethod
    def host_of(cls, entity_id: str) -> NamingConstraints | None:
        """Subordinates on ``entity_id``'s host only; ``None`` for an IP literal, which is no
        domain name (RFC 5280 §4.2.1.10: "a fully qualified domain name")."""
        host = entity_host(check_entity_id(entity_id))
        if ":" in host or host.replace(".", "").isdigit():
            return None
        return cls(permitted=(host,))


@dataclass(frozen=True)
class UrlPrefixes(_Subtrees):
    """``ecert_url_prefixes``: Entity Identifier prefixes on a ``/`` boundary."""

    CLAIM: ClassVar[str] = URL_PREFIXES

    @classmethod
    def _entry(cls, value: object, what: str) -> str:
        if not _is_url(value):
            raise MalformedStatement(
                f"each of {what} must be an http(s) URL prefix, found {show(value)}"
            )
        return check_entity_id(value, f"a URL prefix in {what}")

    @staticmethod
    def _matches(entry: str, entity_id: str) -> bool:
        return _prefix_matches(entry, entity_id)


@dataclass(frozen=True)
class Constraints:
    """A Subordinate Statement's ``constraints`` claim (§3.3, §6.2), checked when built."""

    max_path_length: int | None = None
    naming_constraints: NamingConstraints | None = None
    allowed_entity_types: frozenset[str] | None = None
    url_prefixes: UrlPrefixes | None = None

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
        naming, prefixes = claim.get("naming_constraints"), claim.get(URL_PREFIXES)
        types = claim.get("allowed_entity_types")
        return cls(
            max_path_length=claim.get("max_path_length"),
            naming_constraints=None if naming is None else NamingConstraints.from_claim(naming),
            allowed_entity_types=None
            if types is None
            else frozenset(
                check_name_list(
                    types, "allowed_entity_types", MalformedStatement, max_items=MAX_ENTITY_TYPES
                )
            ),
            url_prefixes=None if prefixes is None else UrlPrefixes.from_claim(prefixes),
        )

    def to_claim(self) -> dict[str, Any]:
        claim: dict[str, Any] = {}
        if self.max_path_length is not None:
            claim["max_path_length"] = self.max_path_length
        if self.naming_constraints is not None:
            claim["naming_constraints"] = self.naming_constraints.to_claim()
        if self.allowed_entity_types is not None:
            claim["allowed_entity_types"] = sorted(self.allowed_entity_types)
        if self.url_prefixes is not None:
            claim[URL_PREFIXES] = self.url_prefixes.to_claim()
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
        for names in (self.naming_constraints, self.url_prefixes):
            if names is None:
                continue
            for entity_id in subordinates:  # §6.2.2: every subordinate's Entity Identifier
                why = names.violation(entity_id)
                if why is not None:
                    raise ConstraintViolation(f"{names.CLAIM} set by {setter}: {why}")
        if self.allowed_entity_types is not None:
            extra = sorted(set(subject_types) - self.allowed_entity_types - {FEDERATION_ENTITY})
            if extra:
                raise ConstraintViolation(
                    f"allowed_entity_types set by {setter}: {subject} has entity type(s) {extra}, "
                    f"expected only {sorted(self.allowed_entity_types)} (and {FEDERATION_ENTITY})"
                )
