"""An in-memory federation for tests: it lives under tests/, never on a production path.

- :class:`MemoryFetcher`: a :class:`trust.federation.Fetcher` over a dict of URL → body,
  counting calls; a missing URL is a :class:`trust.errors.FetchError` (a 404), as is any
  :class:`FetchError` stored in place of a body (a peer that is down).
- :class:`FederationSimulator`: declare anchors, intermediates and leaves with generated ES256
  federation keys; it signs their Entity Configurations and the Subordinate Statements between
  them, and serves them at the URLs a gateway would (``/.well-known/openid-federation`` and
  ``{id}/fetch?sub=``), so resolution can be tested end to end without sockets
  (python-tuf's ``RepositorySimulator`` idea).

Keys are generated per simulator (never fixed in code); times derive from the ``now`` given.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from trust.errors import FetchError
from trust.federation.common import (
    FEDERATION_ENTITY,
    entity_configuration_url,
    fetch_url,
)
from trust.federation.constraints import Constraints
from trust.federation.statements import Acceptance, sign_entity_statement
from trust.keys import PublicKey, SigningKey


class MemoryFetcher:
    """URL → body (bytes) or a :class:`FetchError` to raise; counts every call by URL."""

    def __init__(self, documents: Mapping[str, bytes | FetchError] | None = None) -> None:
        self.documents: dict[str, bytes | FetchError] = dict(documents or {})
        self.calls: Counter[str] = Counter()

    def fetch(self, url: str) -> bytes:
        self.calls[url] += 1
        body = self.documents.get(url)
        if body is None:
            raise FetchError(f"404 Not Found: {url}")
        if isinstance(body, FetchError):
            raise body
        return body

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())


@dataclass
class SimEntity:
    """One simulated entity: its id, federation keys (the first signs) and superiors."""

    entity_id: str
    keys: list[SigningKey]
    superiors: list[str]
    metadata: dict[str, dict[str, Any]]
    exp: int | None = None  # override of the configuration's exp


@dataclass
class SimStatement:
    """What a superior says about one subordinate; the override fields help forge and expire."""

    metadata_policy: dict[str, Any] | None = None
    constraints: Constraints | None = None
    acceptance: Acceptance | None = None
    metadata: dict[str, dict[str, Any]] | None = None
    exp: int | None = None
    jwks: list[PublicKey] | None = None  # default: the subordinate's real keys
    signer: SigningKey | None = None  # default: the superior's first key


@dataclass
class FederationSimulator:
    """A whole federation in memory. ``lifetime`` is how long statements stay valid."""

    now: int
    lifetime: int = 3600
    entities: dict[str, SimEntity] = field(default_factory=dict)
    statements: dict[tuple[str, str], SimStatement] = field(default_factory=dict)

    def _add(
        self,
        entity_id: str,
        superiors: Sequence[str],
        metadata: Mapping[str, Mapping[str, Any]],
        *,
        authority: bool,
    ) -> SimEntity:
        md = {t: dict(m) for t, m in metadata.items()}
        if authority:
            md.setdefault(FEDERATION_ENTITY, {}).update(
                {
                    "federation_fetch_endpoint": f"{entity_id}/fetch",
                    "federation_list_endpoint": f"{entity_id}/list",
                    "federation_resolve_endpoint": f"{entity_id}/resolve",
                    "federation_historical_keys_endpoint": f"{entity_id}/historical-keys",
                }
            )
        entity = SimEntity(entity_id, [SigningKey.generate()], list(superiors), md)
        self.entities[entity_id] = entity
        for superior in superiors:
            self.statements.setdefault((superior, entity_id), SimStatement())
        return entity

    def anchor(self, entity_id: str, **metadata: dict[str, Any]) -> SimEntity:
        return self._add(entity_id, (), metadata, authority=True)

    def intermediate(
        self, entity_id: str, *, superiors: Sequence[str], **metadata: dict[str, Any]
    ) -> SimEntity:
        return self._add(entity_id, superiors, metadata, authority=True)

    def leaf(
        self, entity_id: str, *, superiors: Sequence[str], **metadata: dict[str, Any]
    ) -> SimEntity:
        return self._add(entity_id, superiors, metadata, authority=False)

    def vouch(self, superior: str, subordinate: str, **fields: Any) -> SimStatement:
        """Set what ``superior`` says about ``subordinate`` (creating the statement)."""
        statement = self.statements.setdefault((superior, subordinate), SimStatement())
        for name, value in fields.items():
            if not hasattr(statement, name):
                raise TypeError(f"SimStatement has no field {name!r}")
            setattr(statement, name, value)
        return statement

    def cross_certify(
        self, anchor: str, other: str, *, acceptance: Acceptance, max_path_length: int = 2
    ) -> SimStatement:
        """``anchor`` vouches for another region's anchor ``other`` (our extension), which
        then names ``anchor`` among its superiors so that resolution can find the way."""
        if anchor not in self.entities[other].superiors:
            self.entities[other].superiors.append(anchor)
        return self.vouch(
            anchor,
            other,
            acceptance=acceptance,
            constraints=Constraints(max_path_length=max_path_length),
        )

    def configuration(self, entity_id: str) -> str:
        entity = self.entities[entity_id]
        return sign_entity_statement(
            iss=entity_id,
            sub=entity_id,
            iat=self.now - 60,
            exp=entity.exp if entity.exp is not None else self.now + self.lifetime,
            jwks=[k.public for k in entity.keys],
            key=entity.keys[0],
            metadata=entity.metadata,
            authority_hints=entity.superiors,
        )

    def statement(self, superior: str, subordinate: str) -> str:
        spec = self.statements[(superior, subordinate)]
        return sign_entity_statement(
            iss=superior,
            sub=subordinate,
            iat=self.now - 60,
            exp=spec.exp if spec.exp is not None else self.now + self.lifetime,
            jwks=spec.jwks or [k.public for k in self.entities[subordinate].keys],
            key=spec.signer or self.entities[superior].keys[0],
            metadata=spec.metadata,
            metadata_policy=spec.metadata_policy,
            constraints=spec.constraints,
            acceptance=spec.acceptance,
        )

    def chain(self, *path: str) -> list[str]:
        """The signed trust chain along ``path`` (leaf id first, anchor id last)."""
        tokens = [self.configuration(path[0])]
        tokens += [self.statement(sup, sub) for sub, sup in pairwise(path)]
        return [*tokens, self.configuration(path[-1])]

    def documents(self) -> dict[str, bytes | FetchError]:
        """Every configuration and statement at the URL a gateway serves it on."""
        docs: dict[str, bytes | FetchError] = {
            entity_configuration_url(e): self.configuration(e).encode() for e in self.entities
        }
        for superior, subordinate in self.statements:
            url = fetch_url(f"{superior}/fetch", subordinate)
            docs[url] = self.statement(superior, subordinate).encode()
        return docs

    def fetcher(self) -> MemoryFetcher:
        return MemoryFetcher(self.documents())

    def trust_anchors(self, *entity_ids: str) -> dict[str, list[PublicKey]]:
        """Pinned keys for the given anchors, as a verifier is configured with them."""
        return {e: [k.public for k in self.entities[e].keys] for e in entity_ids}
