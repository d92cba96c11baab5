"""Trust chain resolution (OpenID Federation 1.0 §10.1) through a one-method fetcher.

:func:`resolve_chain` starts from the leaf's Entity Configuration (§9) and walks its
``authority_hints`` upward, depth first in the order listed: for each superior it fetches the
superior's Entity Configuration, then the Subordinate Statement about the entity below from the
superior's ``federation_fetch_endpoint`` (§8.1). When a superior is a configured trust anchor,
the statements gathered so far are handed to :func:`validate_chain`; the first valid chain wins.

Bounds: a path never visits an entity twice (a loop drops that hint and the walk tries the
others, §10.1), never has more than ``max_depth`` Subordinate Statements, and the whole walk
makes at most ``max_fetches`` fetches (each URL at most once, §10.1: "MUST NOT attempt to fetch
Entity Statements they already have obtained"). When no path works, :class:`ChainError` lists
every path tried and why it failed.

Our narrowing of §5.1.1: a superior's fetch endpoint must be on its own origin (scheme, host,
port), so a statement cannot steer the fetcher to some other host. Entity Configurations fetched
on the way are only self-verified: they serve to find the next hop, and trust comes from
:func:`validate_chain` alone. Pure: all I/O goes through the caller's :class:`Fetcher`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from trust.errors import DataError, EcertError, FetchError
from trust.federation.chain import ResolvedChain, validate_chain
from trust.federation.common import (
    DEFAULT_MAX_DEPTH,
    MAX_CHAIN_DEPTH,
    MAX_STATEMENT_LENGTH,
    ChainError,
    MalformedStatement,
    PathFailure,
    UnknownAnchor,
    check_entity_id,
    entity_configuration_url,
    fetch_url,
    same_origin,
    show,
)
from trust.federation.statements import (
    EntityStatement,
    verify_entity_configuration,
    verify_entity_statement,
)
from trust.keys import PublicKey

DEFAULT_MAX_FETCHES = 32
MAX_FETCHES = 256
_FAILURES_SHOWN = 8


class Fetcher(Protocol):
    """Gets the body at ``url``. Implementations turn every failure (network, HTTP status,
    timeout, size) into :class:`trust.errors.FetchError`."""

    def fetch(self, url: str) -> bytes: ...


class _OutOfBudget(Exception):
    """Internal: the fetch budget ran out; stops the whole walk (never escapes this module)."""


def decode_statement(body: object, url: str) -> str:
    """A fetched body as a compact JWS string: bytes, bounded, ASCII, surrounding white space
    removed."""
    if not isinstance(body, bytes) or len(body) > MAX_STATEMENT_LENGTH:
        raise MalformedStatement(
            f"expected at most {MAX_STATEMENT_LENGTH} bytes from {url}, found {show(body, 40)}"
        )
    try:
        return body.decode("ascii").strip()
    except UnicodeDecodeError as exc:
        raise MalformedStatement(f"response from {url} is not a compact JWS: {exc}") from exc


class _Walk:
    def __init__(
        self,
        *,
        fetcher: Fetcher,
        trust_anchors: Mapping[str, Sequence[PublicKey]],
        now: int,
        max_depth: int,
        max_fetches: int,
    ) -> None:
        self.fetcher = fetcher
        self.trust_anchors = trust_anchors
        self.now = now
        self.max_depth = max_depth
        self.max_fetches = max_fetches
        self.fetches = 0
        self.bodies: dict[str, str | EcertError] = {}
        self.configurations: dict[str, EntityStatement | EcertError] = {}
        self.failures: list[PathFailure] = []

    def get(self, url: str) -> str:
        cached = self.bodies.get(url)
        if cached is None:
            if self.fetches >= self.max_fetches:
                raise _OutOfBudget
            self.fetches += 1
            try:
                cached = decode_statement(self.fetcher.fetch(url), url)
            except (FetchError, DataError) as exc:
                cached = exc
            self.bodies[url] = cached
        if isinstance(cached, EcertError):
            raise cached
        return cached

    def configuration(self, entity_id: str) -> EntityStatement:
        cached = self.configurations.get(entity_id)
        if cached is None:
            try:
                token = self.get(entity_configuration_url(entity_id))
                cached = verify_entity_configuration(token, now=self.now, expected_sub=entity_id)
            except (FetchError, DataError) as exc:
                cached = exc
            self.configurations[entity_id] = cached
        if isinstance(cached, EcertError):
            raise cached
        return cached

    def statement_about(self, superior: EntityStatement, subject: str) -> str:
        endpoint = superior.fetch_endpoint
        if endpoint is None:
            raise ChainError(f"{superior.sub} publishes no federation_fetch_endpoint (§5.1.1)")
        if not same_origin(endpoint, superior.sub):
            raise ChainError(
                f"{superior.sub}'s fetch endpoint must be on its own origin, found {endpoint}"
            )
        token = self.get(fetch_url(endpoint, subject))
        # An early check for a precise reason; validate_chain verifies everything again.
        verify_entity_statement(
            token, keys=superior.jwks, now=self.now, expected_iss=superior.sub, expected_sub=subject
        )
        return token

    def walk(
        self, subject: EntityStatement, tokens: list[str], path: tuple[str, ...]
    ) -> ResolvedChain | None:
        """Try each of ``subject``'s superiors; ``tokens`` are the chain from the leaf's
        configuration up to the statement about ``subject``."""
        for hint in subject.authority_hints:
            attempt = (*path, hint)
            if hint in path:  # §10.1: a loop; the hint that led to it is not used
                self.failures.append(
                    PathFailure(attempt, ChainError(f"loop: {hint} is already on this path"))
                )
                continue
            if len(path) > self.max_depth:
                self.failures.append(
                    PathFailure(
                        attempt,
                        ChainError(f"path needs more than max_depth {self.max_depth} statements"),
                    )
                )
                continue
            try:
                superior = self.configuration(hint)
                token = self.statement_about(superior, subject.sub)
            except (FetchError, DataError) as exc:
                self.failures.append(PathFailure(attempt, exc))
                continue
            chain_tokens = [*tokens, token]
            if hint in self.trust_anchors:
                try:
                    return validate_chain(
                        [*chain_tokens, superior.token],
                        trust_anchors=self.trust_anchors,
                        now=self.now,
                        max_depth=self.max_depth,
                    )
                except DataError as exc:
                    self.failures.append(PathFailure(attempt, exc))
            if superior.authority_hints:
                found = self.walk(superior, chain_tokens, attempt)
                if found is not None:
                    return found
            elif hint not in self.trust_anchors:
                self.failures.append(
                    PathFailure(
                        attempt,
                        UnknownAnchor(
                            f"{hint} names no superiors and is not a configured trust anchor"
                        ),
                    )
                )
        return None


def resolve_chain(
    leaf_id: str,
    *,
    fetcher: Fetcher,
    trust_anchors: Mapping[str, Sequence[PublicKey]],
    now: int,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_fetches: int = DEFAULT_MAX_FETCHES,
) -> ResolvedChain:
    """Find and validate a trust chain from ``leaf_id`` to one of ``trust_anchors`` (§10).

    Returns the first valid chain, or raises :class:`ChainError` whose ``failures`` say why
    each path failed (``unavailable`` when all of them were fetch failures).
    """
    check_entity_id(leaf_id, "leaf_id", ChainError)
    if not 1 <= max_depth <= MAX_CHAIN_DEPTH or not 1 <= max_fetches <= MAX_FETCHES:
        raise ChainError(
            f"expected max_depth from 1 to {MAX_CHAIN_DEPTH} and max_fetches from 1 to "
            f"{MAX_FETCHES}, found {show(max_depth)} and {show(max_fetches)}"
        )
    walk = _Walk(
        fetcher=fetcher,
        trust_anchors=trust_anchors,
        now=now,
        max_depth=max_depth,
        max_fetches=max_fetches,
    )
    found = None
    try:
        leaf = walk.configuration(leaf_id)
        if not leaf.authority_hints:
            raise ChainError(f"{leaf_id} names no superiors (authority_hints)")
        found = walk.walk(leaf, [leaf.token], (leaf_id,))
    except (FetchError, DataError) as exc:
        walk.failures.append(PathFailure((leaf_id,), exc))
    except _OutOfBudget:
        walk.failures.append(
            PathFailure((leaf_id,), FetchError(f"fetch budget of {max_fetches} requests used up"))
        )
    if found is not None:
        return found
    shown = "; ".join(f.describe() for f in walk.failures[:_FAILURES_SHOWN])
    more = len(walk.failures) - _FAILURES_SHOWN
    raise ChainError(
        f"no valid trust chain from {leaf_id} to a configured trust anchor "
        f"{sorted(trust_anchors)}: {shown}{f'; and {more} more' if more > 0 else ''}",
        walk.failures,
    )
