"""Trust chains (OpenID Federation 1.0 §4, §10.2): validate one, resolve the subject's metadata.

A chain is ordered as in §4: the subject's Entity Configuration, the Subordinate Statements up
to the trust anchor's, and the anchor's Entity Configuration. :func:`validate_chain` checks it
top-down, so that every key is trusted before it is used:

1. the anchor is configured and its Entity Configuration verifies with the pinned keys;
2. each ES[j] verifies with a key in ES[j+1]["jwks"] and ES[j]["iss"] == ES[j+1]["sub"];
   the subject's configuration is also signed with a key in its own ``jwks``;
3. no entity appears twice (a loop), at most ``max_depth`` Subordinate Statements;
4. the subject's immediate superior is among its ``authority_hints`` (§3.5 step 6);
5. each statement's ``constraints`` hold (§6.2), the policies merge (§6.1.4.1) and the
   subject's metadata (with its superior's ``metadata`` applied, §3.1) obeys them (§6.1.4.2).

The resolved metadata is the spec's: a ``subset_of`` narrows the leaf's ``credential_types``
to what every superior grants (§6.1.3.1.5), it does not fail the chain. Which types the leaf
may issue is then our rule on top (:attr:`ResolvedChain.credential_types`): the narrowed list,
and nothing at all unless some superior grants it (a ``subset_of`` or ``value`` policy on the
parameter): fail closed, never "no policy, anything goes".

Cross-region agreements (our extension): ``ecert_acceptance`` is honoured only on the anchor's
own statement (the first statement below the anchor). Anywhere deeper it would be trust by
transitivity, so the chain is refused. :class:`ResolvedChain` exposes the agreement as
``acceptance`` (``None`` inside one region).

Deliberately not here: choosing between several valid chains (§10.3: the resolver returns the
first), trust marks (the leaf's ``trust_marks`` and the anchor's ``trust_mark_issuers`` are on
``chain.subject`` and ``chain.anchor``; :mod:`trust.federation.trustmarks` checks them), and
caching: a caller may keep a :class:`ResolvedChain` until ``exp``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from trust.federation.common import (
    CREDENTIAL_TYPES,
    DEFAULT_MAX_DEPTH,
    ECERT_ISSUER,
    MAX_CHAIN_DEPTH,
    MAX_STATEMENT_LENGTH,
    ChainError,
    UnknownAnchor,
    UntrustedStatement,
    show,
    unverified_payload,
)
from trust.federation.policy import MetadataPolicy, apply_policy, merge_policies
from trust.federation.statements import (
    Acceptance,
    EntityStatement,
    verify_entity_statement,
)
from trust.jws import BadSignature, UnknownKey
from trust.keys import PublicKey


@dataclass(frozen=True)
class TrustChain:
    """Verified statements in §4 order; the links between them are checked when built."""

    statements: tuple[EntityStatement, ...]

    def __post_init__(self) -> None:
        es = self.statements
        if len(es) < 3:
            raise ChainError(
                "expected a trust chain of at least 3 statements (subject configuration, "
                f"subordinate statement, anchor configuration), found {len(es)}"
            )
        if not (es[0].is_configuration and es[-1].is_configuration):
            raise ChainError("a trust chain starts and ends with an entity configuration")
        for j in range(len(es) - 1):
            if es[j].iss != es[j + 1].sub or (j > 0 and es[j].is_configuration):
                raise ChainError(
                    f"statement {j} (by {es[j].iss} about {es[j].sub}) does not link to "
                    f"statement {j + 1} (by {es[j + 1].iss} about {es[j + 1].sub})"
                )

    @property
    def subject(self) -> EntityStatement:
        return self.statements[0]

    @property
    def anchor(self) -> EntityStatement:
        return self.statements[-1]

    @property
    def path(self) -> tuple[str, ...]:
        """Entity ids from the subject up to the anchor (one per entity)."""
        return (self.subject.sub, *(s.iss for s in self.statements[1:-1]))

    @property
    def tokens(self) -> tuple[str, ...]:
        """The signed statements, as a resolve response's ``trust_chain`` carries them."""
        return tuple(s.token for s in self.statements)

    @property
    def exp(self) -> int:
        """§10.4: the chain expires with its first statement to expire."""
        return min(s.exp for s in self.statements)


@dataclass(frozen=True)
class ResolvedChain:
    """A validated chain and what it proves about its subject (the leaf)."""

    leaf_id: str
    anchor_id: str
    exp: int
    metadata: Mapping[str, Mapping[str, Any]]
    path: tuple[str, ...]
    keys: tuple[PublicKey, ...]  # the leaf's federation keys, as its superior vouches for them
    acceptance: Acceptance | None
    chain: TrustChain = field(repr=False)
    policy: MetadataPolicy = field(default_factory=MetadataPolicy, repr=False)  # merged, §6.1.4.1

    @property
    def entity_types(self) -> frozenset[str]:
        return frozenset(self.metadata)

    @property
    def granted(self) -> bool:
        """Whether some superior grants credential types: the merged policy sets ``subset_of``
        or ``value`` on ``ecert_issuer.credential_types``."""
        ops = self.policy.types.get(ECERT_ISSUER, {}).get(CREDENTIAL_TYPES, {})
        return bool({"subset_of", "value"} & ops.keys())

    @property
    def credential_types(self) -> frozenset[str]:
        """The credential types the chain authorises the leaf to issue: its resolved
        ``credential_types`` (narrowed by every superior's ``subset_of``, §6.1.3.1.5), and none
        when no superior grants any (our fail-closed rule)."""
        types = self.metadata.get(ECERT_ISSUER, {}).get(CREDENTIAL_TYPES, [])
        if not self.granted or not isinstance(types, list):
            return frozenset()
        return frozenset(t for t in types if isinstance(t, str))

    def not_granted(self) -> dict[str, tuple[str, ...]]:
        """Types the leaf claims that its chain does not authorise, each with the superiors
        whose ``subset_of`` leaves it out (all of them when nobody grants any)."""
        claimed = self.chain.subject.metadata.get(ECERT_ISSUER, {}).get(CREDENTIAL_TYPES, [])
        if not isinstance(claimed, list):
            return {}
        setters = [
            (s.iss, s.metadata_policy.types.get(ECERT_ISSUER, {}).get(CREDENTIAL_TYPES, {}))
            for s in self.chain.statements[1:-1]
            if s.metadata_policy is not None
        ]
        out = {}
        for t in claimed:
            if isinstance(t, str) and t not in self.credential_types:
                out[t] = tuple(
                    iss for iss, ops in setters if t not in ops.get("subset_of", [t])
                ) or tuple(self.path[1:])
        return out

    @property
    def accepted_types(self) -> frozenset[str]:
        """Authorised types the anchor's verifiers accept: all of them inside one region, the
        agreed ones across regions."""
        if self.acceptance is None:
            return self.credential_types
        return self.credential_types & self.acceptance.credential_types

    def is_fresh(self, now: int) -> bool:
        return now < self.exp


def _anchor_of(token: str) -> str:
    claims = unverified_payload(token)
    iss = claims.get("iss")
    if not isinstance(iss, str) or iss != claims.get("sub"):
        raise ChainError(
            "expected the last statement to be a trust anchor's entity configuration, found "
            f"one by {show(iss)} about {show(claims.get('sub'))}"
        )
    return iss


def validate_chain(
    statements: Sequence[str],
    *,
    trust_anchors: Mapping[str, Sequence[PublicKey]],
    now: int,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> ResolvedChain:
    """Validate a trust chain against pinned anchor keys and resolve the leaf's metadata.

    ``trust_anchors`` maps each configured anchor's entity id to its pinned federation keys.
    ``max_depth`` bounds the Subordinate Statements (at most :data:`MAX_CHAIN_DEPTH`). Raises a
    :class:`trust.errors.DataError`: :class:`ChainError` (and its :class:`UnknownAnchor`,
    :class:`UntrustedStatement`), :class:`StatementExpired`, :class:`PolicyError`,
    :class:`ConstraintViolation`, :class:`MalformedStatement` or a JWS error.
    """
    if not 1 <= max_depth <= MAX_CHAIN_DEPTH:
        raise ChainError(f"max_depth must be from 1 to {MAX_CHAIN_DEPTH}, found {show(max_depth)}")
    if isinstance(statements, str | bytes) or not isinstance(statements, Sequence):
        raise ChainError(f"expected a sequence of compact JWS strings, found {show(statements)}")
    tokens = list(statements[: max_depth + 3])  # one more than allowed is enough to refuse
    if len(statements) > max_depth + 2:
        raise ChainError(
            f"chain has {len(statements) - 2} subordinate statements, at most {max_depth} allowed"
        )
    if len(tokens) < 3:
        raise ChainError(
            "expected at least 3 statements (subject configuration, subordinate statement, "
            f"anchor configuration), found {len(tokens)}"
        )
    if not all(isinstance(t, str) and len(t) <= MAX_STATEMENT_LENGTH for t in tokens):
        raise ChainError(
            f"expected each statement to be a compact JWS of at most {MAX_STATEMENT_LENGTH} "
            "characters"
        )

    # §10.2, last two steps: the anchor is configured and signed its configuration with a
    # pinned key. The issuer named in the token is only a hint for which keys to use.
    anchor_id = _anchor_of(tokens[-1])
    if anchor_id not in trust_anchors:
        raise UnknownAnchor(
            f"chain ends at {anchor_id}, expected one of the configured trust anchors "
            f"{sorted(trust_anchors)}"
        )
    pinned = trust_anchors[anchor_id]
    try:
        anchor = verify_entity_statement(
            tokens[-1], keys=pinned, now=now, expected_iss=anchor_id, expected_sub=anchor_id
        )
    except (UnknownKey, BadSignature) as exc:
        raise UntrustedStatement(
            f"trust anchor {anchor_id}'s entity configuration does not verify with its "
            f"{len(pinned)} pinned key(s): {exc}"
        ) from exc

    # §10.2: ES[j] is signed by a key in ES[j+1]["jwks"], and ES[j]["iss"] == ES[j+1]["sub"].
    verified = [anchor]
    for j in range(len(tokens) - 2, -1, -1):
        superior = verified[0]
        try:
            statement = verify_entity_statement(
                tokens[j],
                keys=superior.jwks,
                now=now,
                expected_iss=superior.sub,
                expected_sub=superior.sub if j == 0 else None,
            )
        except (UnknownKey, BadSignature) as exc:
            raise UntrustedStatement(
                f"statement {j} of the chain is not signed by a key of {superior.sub} as "
                f"{superior.iss} vouches for them: {exc}"
            ) from exc
        if j > 0 and statement.is_configuration:
            raise ChainError(
                f"statement {j} must be a subordinate statement by {superior.sub}, found its "
                "entity configuration"
            )
        verified.insert(0, statement)
    chain = TrustChain(tuple(verified))
    return _resolve(chain)


def _resolve(chain: TrustChain) -> ResolvedChain:
    es = chain.statements
    path = chain.path
    leaf_id, anchor_id = path[0], path[-1]
    if len(set(path)) != len(path):
        repeated = sorted({p for p in path if path.count(p) > 1})
        raise ChainError(f"loop in the trust chain: {repeated} appear twice in {list(path)}")
    if es[1].iss not in es[0].authority_hints:  # §3.5 step 6
        raise ChainError(
            f"{es[1].iss} vouches for {leaf_id}, but {leaf_id} names only "
            f"{list(es[0].authority_hints)} as its superiors"
        )
    subordinates = es[1:-1]  # subordinate statements, the leaf's immediate superior's first
    for statement in subordinates[:-1]:
        if statement.acceptance is not None:
            raise ChainError(
                f"cross-region statement by {statement.iss} about {statement.sub} is honoured "
                f"only from the trust anchor ({anchor_id}) itself: no transitive trust"
            )

    # §3.1: the immediate superior's metadata overrides the leaf's, for the leaf's types only.
    metadata = {t: dict(m) for t, m in es[0].metadata.items()}
    for etype, params in es[1].metadata.items():
        if etype in metadata:
            metadata[etype].update(params)
    # §6.2: each statement's constraints, independently (before policies, §6.2.3).
    for j, statement in enumerate(subordinates, start=1):
        if statement.constraints is not None:
            statement.constraints.check(
                setter=statement.iss, subordinates=path[:j], subject_types=metadata
            )
    # §6.1.4: merge from the anchor's statement down, then apply to the leaf's metadata.
    policies = []
    for statement in reversed(subordinates):
        if statement.metadata_policy is not None:
            policies.append((statement.iss, statement.metadata_policy))
    merged = merge_policies(policies)
    resolved = apply_policy(merged, metadata, subject=leaf_id)
    return ResolvedChain(
        leaf_id=leaf_id,
        anchor_id=anchor_id,
        exp=chain.exp,
        metadata=resolved,
        path=path,
        keys=es[1].jwks,
        acceptance=subordinates[-1].acceptance,
        chain=chain,
        policy=merged,
    )
