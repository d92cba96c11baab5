"""Federated trust: the OpenID Federation 1.0 subset this gateway speaks. Import from here.

Who is who: a region's **trust anchor** vouches for its **city gateways** (intermediates), which
vouch for their **agencies** (leaf issuers, entity type ``ecert_issuer``) and **verifiers**
(leaves, ``ecert_verifier``). Entity ids are URLs; federation keys are separate from the keys
that sign credentials (those travel in ``ecert_issuer`` metadata, if at all).

What is here, by module (all pure: bytes, parsed objects and ``now`` in; no I/O):

- ``common``: errors, names, bounds, Entity Identifier checks and endpoint URLs.
- ``statements``: Entity Statements (§3): sign, verify, Entity Configurations.
- ``policy``: metadata policy operators, merging and application (§6.1), as the
  spec defines them (``subset_of`` narrows to the intersection).
- ``constraints``: ``max_path_length``, ``naming_constraints`` (host names, RFC 5280
  §4.2.1.10 as §6.2.2 words it), ``allowed_entity_types`` (§6.2) and our own constraint
  parameter ``ecert_url_prefixes``.
- ``chain``: :func:`validate_chain` (§4, §10.2) into a :class:`ResolvedChain`,
  including cross-region agreements (``ecert_acceptance``, honoured only on the anchor's own
  statement: no transitive trust) and the credential types the chain grants its leaf.
- ``resolve``: :func:`resolve_chain` walks ``authority_hints`` through a
  :class:`Fetcher` (§10.1), with a visited set, a depth bound and a fetch budget.
- ``endpoints``: subordinate listings (§8.2), resolve responses (§8.3), historical
  keys (§8.7).
- ``trustmarks``: Trust Marks (§7: sign, verify as §7.3 says) and Trust Mark Status responses
  (§8.4), and the verifier-role marks a region's anchor grants counters.
- an in-memory fetcher and federation for tests live with the tests
  (``tests/trust/federation_simulator.py``), not in this package.

Deliberately left out of the spec: trust mark delegation (§7.2), explicit and automatic client
registration (§12), the ``trust_chain`` JWS header (§4.3), client authentication at endpoints
(§8.8), additional policy operators and object-valued policy operands, RSA keys, and HTTP
itself (the gateway serves and fetches; this package decides).
"""

from __future__ import annotations

from trust.federation.chain import ResolvedChain, TrustChain, validate_chain
from trust.federation.common import (
    ACCEPTANCE_CLAIM,
    CREDENTIAL_TYPES,
    DEFAULT_MAX_DEPTH,
    ECERT_ISSUER,
    ECERT_VERIFIER,
    ENTITY_STATEMENT_MEDIA_TYPE,
    ENTITY_STATEMENT_TYP,
    FEDERATION_ENTITY,
    HISTORICAL_KEYS_MEDIA_TYPE,
    HISTORICAL_KEYS_TYP,
    MAX_AUTHORITY_HINTS,
    MAX_CHAIN_DEPTH,
    MAX_JWKS_KEYS,
    MAX_STATEMENT_LENGTH,
    OPENID_RELYING_PARTY,
    RESOLVE_RESPONSE_MEDIA_TYPE,
    RESOLVE_RESPONSE_TYP,
    WELL_KNOWN_PATH,
    ChainError,
    ConstraintViolation,
    FederationError,
    MalformedStatement,
    PathFailure,
    PolicyError,
    StatementExpired,
    UnknownAnchor,
    UntrustedStatement,
    check_entity_id,
    entity_configuration_url,
    fetch_url,
)
from trust.federation.constraints import URL_PREFIXES, Constraints, NamingConstraints, UrlPrefixes
from trust.federation.endpoints import (
    REVOCATION_REASONS,
    HistoricalKey,
    HistoricalKeys,
    ResolveResponse,
    parse_subordinate_listing,
    sign_historical_keys,
    sign_resolve_response,
    subordinate_listing,
    verify_historical_keys,
    verify_resolve_response,
)
from trust.federation.policy import (
    OPERATORS,
    MetadataPolicy,
    apply_policy,
    merge_policies,
)
from trust.federation.resolve import DEFAULT_MAX_FETCHES, Fetcher, resolve_chain
from trust.federation.statements import (
    Acceptance,
    EntityStatement,
    sign_entity_statement,
    verify_entity_configuration,
    verify_entity_statement,
)
from trust.federation.trustmarks import (
    ROLE_CLAIM,
    TRUST_MARK_MEDIA_TYPE,
    TRUST_MARK_STATUS_MEDIA_TYPE,
    TRUST_MARK_STATUS_TYP,
    TRUST_MARK_STATUSES,
    TRUST_MARK_TYP,
    DelegationUnsupported,
    IssuerNotListed,
    MalformedTrustMark,
    MarkCheck,
    RoleGrant,
    TrustMark,
    TrustMarkError,
    TrustMarkExpired,
    TrustMarkRevoked,
    UntrustedTrustMark,
    WrongSubject,
    check_role_marks,
    role_mark_type,
    role_of_mark_type,
    sign_trust_mark,
    sign_trust_mark_status,
    verify_trust_mark,
    verify_trust_mark_status,
)

__all__ = [
    "ACCEPTANCE_CLAIM",
    "CREDENTIAL_TYPES",
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_FETCHES",
    "ECERT_ISSUER",
    "ECERT_VERIFIER",
    "ENTITY_STATEMENT_MEDIA_TYPE",
    "ENTITY_STATEMENT_TYP",
    "FEDERATION_ENTITY",
    "HISTORICAL_KEYS_MEDIA_TYPE",
    "HISTORICAL_KEYS_TYP",
    "MAX_AUTHORITY_HINTS",
    "MAX_CHAIN_DEPTH",
    "MAX_JWKS_KEYS",
    "MAX_STATEMENT_LENGTH",
    "OPENID_RELYING_PARTY",
    "OPERATORS",
    "RESOLVE_RESPONSE_MEDIA_TYPE",
    "RESOLVE_RESPONSE_TYP",
    "REVOCATION_REASONS",
    "ROLE_CLAIM",
    "TRUST_MARK_MEDIA_TYPE",
    "TRUST_MARK_STATUSES",
    "TRUST_MARK_STATUS_MEDIA_TYPE",
    "TRUST_MARK_STATUS_TYP",
    "TRUST_MARK_TYP",
    "URL_PREFIXES",
    "WELL_KNOWN_PATH",
    "Acceptance",
    "ChainError",
    "ConstraintViolation",
    "Constraints",
    "DelegationUnsupported",
    "EntityStatement",
    "FederationError",
    "Fetcher",
    "HistoricalKey",
    "HistoricalKeys",
    "IssuerNotListed",
    "MalformedStatement",
    "MalformedTrustMark",
    "MarkCheck",
    "MetadataPolicy",
    "NamingConstraints",
    "PathFailure",
    "PolicyError",
    "ResolveResponse",
    "ResolvedChain",
    "RoleGrant",
    "StatementExpired",
    "TrustChain",
    "TrustMark",
    "TrustMarkError",
    "TrustMarkExpired",
    "TrustMarkRevoked",
    "UnknownAnchor",
    "UntrustedStatement",
    "UntrustedTrustMark",
    "UrlPrefixes",
    "WrongSubject",
    "apply_policy",
    "check_entity_id",
    "check_role_marks",
    "entity_configuration_url",
    "fetch_url",
    "merge_policies",
    "parse_subordinate_listing",
    "resolve_chain",
    "role_mark_type",
    "role_of_mark_type",
    "sign_entity_statement",
    "sign_historical_keys",
    "sign_resolve_response",
    "sign_trust_mark",
    "sign_trust_mark_status",
    "subordinate_listing",
    "validate_chain",
    "verify_entity_configuration",
    "verify_entity_statement",
    "verify_historical_keys",
    "verify_resolve_response",
    "verify_trust_mark",
    "verify_trust_mark_status",
]
