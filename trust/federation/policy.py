"""Metadata policy (OpenID Federation 1.0 §6.1): validate, merge down a chain, apply to metadata.

- The seven standard operators of §6.1.3.1 (``value``, ``add``, ``default``, ``one_of``,
  ``subset_of``, ``superset_of``, ``essential``) with their allowed combinations, their merge
  rules (§6.1.4.1) and their order of application (§6.1.4.2), exactly as the spec defines
  them: ``subset_of`` narrows a value to its intersection with the operator's (§6.1.3.1.5, the
  result may be ``[]``), two ``subset_of`` merge to their intersection (possibly ``[]``), two
  ``essential`` to their logical OR, and ``essential`` is checked last, after the narrowing.

What a narrowed ``ecert_issuer.credential_types`` means for verifiers (a type outside the
grant is not authorised; no grant at all authorises nothing) is decided on the resolved chain
(:attr:`trust.federation.chain.ResolvedChain.credential_types`), not by bending the spec here.

Deliberately not here: additional operators (any name listed in ``metadata_policy_crit`` is a
policy error, since we implement none; unlisted unknown operators are ignored, §6.1.3.2), values
that are JSON objects or arrays of objects (optional in §6.1.3.1.8), the ``scope`` string-as-array
special case, and language-tagged parameter names (treated as plain names). Pure: parsed JSON in,
new values or :class:`PolicyError` out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from trust.federation.common import (
    MAX_ENTITY_TYPES,
    MAX_LIST_ITEMS,
    PolicyError,
    check_name,
    json_copy,
    show,
)

# §6.1.3.1: the standard operators, in their order of application.
OPERATORS = ("value", "add", "default", "one_of", "subset_of", "superset_of", "essential")
_ARRAY_OPERATORS = ("add", "one_of", "subset_of", "superset_of")
MAX_PARAMETERS = 64  # parameter policies per entity type

Key = tuple[str, Any]


def _key(value: Any) -> Key:
    """A hashable identity for a JSON scalar: booleans never equal numbers, 1 equals 1.0."""
    if isinstance(value, bool):
        return ("b", value)
    if isinstance(value, int | float):
        return ("n", value)
    return ("s", value)


def _is_scalar(value: object) -> bool:
    return isinstance(value, str | int | float)  # bool is an int subclass: allowed here


def _is_item(value: object) -> bool:
    """An element of an operator array: a string or a number (§6.1.3.1, arrays of objects are
    optional and unsupported)."""
    return isinstance(value, str) or (
        isinstance(value, int | float) and not isinstance(value, bool)
    )


def _keys(values: Sequence[Any]) -> set[Key]:
    return {_key(v) for v in values}


def _as_set(value: Any) -> set[Key]:
    """``value`` operator's values as a set: null is empty, a scalar is itself."""
    if value is None:
        return set()
    if isinstance(value, list):
        return _keys(value)
    return {_key(value)}


def _json_equal(a: Any, b: Any) -> bool:
    """Equality of two operator values (null, scalars or arrays of scalars), JSON-typed."""
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_key(x) == _key(y) for x, y in zip(a, b, strict=True))
    if a is None or b is None or isinstance(a, list) or isinstance(b, list):
        return a is b
    return _key(a) == _key(b)


def _dedupe(values: Sequence[Any]) -> list[Any]:
    seen: set[Key] = set()
    out = []
    for v in values:
        if _key(v) not in seen:
            seen.add(_key(v))
            out.append(v)
    return out


def _check_operator(op: str, value: Any, where: str) -> Any:
    """One operator's configured value, type-checked per §6.1.3.1."""
    if op == "essential":
        if not isinstance(value, bool):
            raise PolicyError(f"{where}: essential must be true or false, found {show(value)}")
        return value
    if op in _ARRAY_OPERATORS:
        if (
            not isinstance(value, list)
            or len(value) > MAX_LIST_ITEMS
            or not all(_is_item(v) for v in value)
        ):
            raise PolicyError(
                f"{where}: {op} must be an array of at most {MAX_LIST_ITEMS} strings or numbers, "
                f"found {show(value)}"
            )
        return _dedupe(value)
    # value (null allowed) and default: a scalar or an array of scalars.
    if value is None and op == "value":
        return None
    if _is_scalar(value) or (
        isinstance(value, list)
        and len(value) <= MAX_LIST_ITEMS
        and all(_is_scalar(v) for v in value)
    ):
        return value
    raise PolicyError(
        f"{where}: {op} must be a string, number, boolean or array of those"
        f"{' or null' if op == 'value' else ''}, found {show(value)}"
    )


def _check_combination(ops: Mapping[str, Any], where: str) -> None:
    """§6.1.3.1: only the allowed operator combinations, with their conditions."""

    def fail(why: str) -> PolicyError:
        return PolicyError(f"{where}: {why}, found {show(dict(ops), 200)}")

    if "one_of" in ops:
        # §6.1.3.1.4: one_of combines only with value, default and essential.
        clash = [op for op in ("add", "subset_of", "superset_of") if op in ops]
        if clash:
            raise fail(f"one_of cannot be combined with {', '.join(clash)}")
    if "value" in ops:  # §6.1.3.1.1
        value = ops["value"]
        values = _as_set(value)
        if "add" in ops and not _keys(ops["add"]) <= values:
            raise fail("the values of add must be a subset of the values of value")
        if "default" in ops and value is None:
            raise fail("default cannot be combined with a null value")
        if "one_of" in ops and (not _is_scalar(value) or _key(value) not in _keys(ops["one_of"])):
            raise fail("value must be one of the one_of values")
        if "subset_of" in ops and not values <= _keys(ops["subset_of"]):
            raise fail("the values of value must be a subset of subset_of")
        if "superset_of" in ops and not values >= _keys(ops["superset_of"]):
            raise fail("the values of value must be a superset of superset_of")
        if ops.get("essential") is True and value is None:
            raise fail("an essential parameter cannot have a null value")
    if "add" in ops and "subset_of" in ops and not _keys(ops["add"]) <= _keys(ops["subset_of"]):
        raise fail("the values of add must be a subset of subset_of")  # §6.1.3.1.2
    if (
        "subset_of" in ops
        and "superset_of" in ops
        and not _keys(ops["subset_of"]) >= _keys(ops["superset_of"])
    ):
        raise fail("subset_of must be a superset of superset_of")  # §6.1.3.1.5


@dataclass(frozen=True)
class MetadataPolicy:
    """A validated ``metadata_policy``: entity type → parameter → operator → configured value.

    Build with :meth:`from_claim`; values are private copies, never the parsed input.
    """

    types: Mapping[str, Mapping[str, Mapping[str, Any]]] = field(default_factory=dict)

    @classmethod
    def from_claim(cls, claim: object, *, crit: Sequence[str] = ()) -> MetadataPolicy:
        """§6.1.2 structure and §6.1.3 operator checks on one statement's policy."""
        if crit:
            # §6.1.3.2: every critical additional operator must be understood; we implement none.
            raise PolicyError(
                f"metadata_policy_crit lists operators this gateway does not implement: "
                f"{show(list(crit))} (only the standard operators {', '.join(OPERATORS)} are)"
            )
        if not isinstance(claim, dict) or len(claim) > MAX_ENTITY_TYPES:
            raise PolicyError(
                f"metadata_policy must be an object of at most {MAX_ENTITY_TYPES} entity types, "
                f"found {show(claim)}"
            )
        types: dict[str, dict[str, dict[str, Any]]] = {}
        for etype, params in claim.items():
            check_name(etype, "a metadata_policy entity type", PolicyError)
            if not isinstance(params, dict) or len(params) > MAX_PARAMETERS:
                raise PolicyError(
                    f"metadata_policy.{etype} must be an object of at most {MAX_PARAMETERS} "
                    f"parameter policies, found {show(params)}"
                )
            types[etype] = {}
            for param, ops in params.items():
                where = f"metadata_policy.{etype}.{check_name(param, 'a parameter', PolicyError)}"
                if not isinstance(ops, dict):
                    raise PolicyError(f"{where} must be an object of operators, found {show(ops)}")
                # §6.1.3.2: operators we do not know and nobody marked critical are ignored.
                checked = {
                    op: _check_operator(op, json_copy(v), where)
                    for op, v in ops.items()
                    if op in OPERATORS
                }
                _check_combination(checked, where)
                types[etype][param] = checked
        return cls(types)

    def to_claim(self) -> dict[str, Any]:
        return {t: {p: dict(ops) for p, ops in params.items()} for t, params in self.types.items()}

    def __bool__(self) -> bool:
        return bool(self.types)


def _merge_operator(op: str, current: Any, sub: Any, where: str) -> Any:
    """§6.1.4.1: merge a subordinate's operator value into the current (superior) one."""
    if op in ("value", "default"):
        if not _json_equal(current, sub):
            raise PolicyError(
                f"{where}: {op} must equal the superior's {show(current)} when both set it, "
                f"found {show(sub)}"
            )
        return current
    if op == "essential":  # §6.1.3.1.7: logical OR
        return bool(current) or bool(sub)
    if op in ("add", "superset_of"):  # §6.1.3.1.2, §6.1.3.1.6: union
        return _dedupe([*current, *sub])
    # one_of and subset_of: the intersection (§6.1.3.1.4, §6.1.3.1.5). An empty one_of is a
    # policy error; an empty subset_of is not: it narrows the parameter to [].
    allowed = _keys(sub)
    merged = [v for v in current if _key(v) in allowed]
    if op == "one_of" and not merged:
        raise PolicyError(
            f"{where}: one_of {show(sub)} shares no value with the superior's {show(current)}"
        )
    return merged


def merge_policies(policies: Sequence[tuple[str, MetadataPolicy]]) -> MetadataPolicy:
    """Merge the policies of a chain's Subordinate Statements (§6.1.4.1).

    ``policies`` are ``(issuer id, policy)`` pairs, the most superior first (the trust anchor's
    statement) and the subject's immediate superior last.
    """
    merged: dict[str, dict[str, dict[str, Any]]] = {}
    for issuer, policy in policies:
        for etype, params in policy.types.items():
            target = merged.setdefault(etype, {})
            for param, ops in params.items():
                where = f"metadata_policy.{etype}.{param} (from {issuer})"
                current = target.get(param)
                if current is None:
                    target[param] = {op: json_copy(v) for op, v in ops.items()}
                    continue
                for op, value in ops.items():
                    if op in current:
                        current[op] = _merge_operator(op, current[op], value, where)
                    else:
                        current[op] = json_copy(value)
                # §6.1.4.1: the merged parameter policy must still be an allowed combination.
                _check_combination(current, where)
    return MetadataPolicy(merged)


def apply_policy(
    policy: MetadataPolicy, metadata: Mapping[str, Mapping[str, Any]], *, subject: str
) -> dict[str, dict[str, Any]]:
    """Apply a merged policy to the subject's metadata (§6.1.4.2); returns new metadata.

    Only entity types present in ``metadata`` are touched; operators run in the order of
    :data:`OPERATORS`. ``subject`` names the entity in messages.
    """
    resolved: dict[str, dict[str, Any]] = {t: json_copy(dict(m)) for t, m in metadata.items()}
    for etype, params in resolved.items():
        for param, ops in policy.types.get(etype, {}).items():
            where = f"{subject} metadata {etype}.{param}"
            present, value = _apply_operators(ops, param in params, params.get(param), where)
            if present:
                params[param] = value
            else:
                params.pop(param, None)
    return resolved


def _array(value: Any, op: str, where: str) -> list[Any]:
    if not isinstance(value, list) or not all(_is_item(v) for v in value):
        raise PolicyError(
            f"{where}: {op} applies to an array of strings or numbers, found {show(value)}"
        )
    return value


def _apply_operators(
    ops: Mapping[str, Any], present: bool, value: Any, where: str
) -> tuple[bool, Any]:
    if "value" in ops:  # §6.1.3.1.1: first
        present, value = ops["value"] is not None, json_copy(ops["value"])
    if "add" in ops:  # §6.1.3.1.2: after value
        base = _array(value, "add", where) if present else []
        present, value = True, _dedupe([*base, *ops["add"]])
    if "default" in ops and not present:  # §6.1.3.1.3: after add
        present, value = True, json_copy(ops["default"])
    # §6.1.3.1.4: after default
    if (
        "one_of" in ops
        and present
        and (not _is_item(value) or _key(value) not in _keys(ops["one_of"]))
    ):
        raise PolicyError(f"{where}: expected one of {show(ops['one_of'])}, found {show(value)}")
    if "subset_of" in ops and present:  # §6.1.3.1.5: after one_of; narrows, maybe to []
        allowed = _keys(ops["subset_of"])
        value = [v for v in _array(value, "subset_of", where) if _key(v) in allowed]
    if "superset_of" in ops and present:  # §6.1.3.1.6: after subset_of
        missing = _keys(ops["superset_of"]) - _keys(_array(value, "superset_of", where))
        if missing:
            raise PolicyError(
                f"{where}: expected all of {show(ops['superset_of'])}, found {show(value)}"
            )
    if ops.get("essential") is True and not present:  # §6.1.3.1.7: last
        raise PolicyError(f"{where}: expected the essential parameter to be present, found none")
    return present, value
