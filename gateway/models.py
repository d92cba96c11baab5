"""SQLAlchemy 2 table models. Times are Unix seconds (UTC) in BIGINT columns.

Rows holding secrets (``ApiKeyRow.secret_hash``, ``SigningKeyRow.private_pem``) are never
returned by the API: routes answer with schemas from ``gateway.schemas``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    FetchedValue,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[str]: JSON, int: BigInteger}  # noqa: RUF012


class CityRow(Base):
    """The one city this gateway serves (id is always 1)."""

    __tablename__ = "city"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(6))
    name: Mapped[str] = mapped_column(String(64))
    public_url: Mapped[str] = mapped_column(String(256))
    state_version: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[int]


class AgencyRow(Base):
    __tablename__ = "agencies"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    uscc: Mapped[str] = mapped_column(String(18), unique=True)
    region_code: Mapped[str] = mapped_column(String(6))
    types: Mapped[list[str]]
    created_at: Mapped[int]


class ApiKeyRow(Base):
    __tablename__ = "api_keys"
    __mapper_args__ = {"eager_defaults": False}  # noqa: RUF012 - never read back on INSERT
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"), index=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[str]]
    label: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[int]
    # revoked from this time on (a rotated key's may lie ahead: its grace period)
    revoked_at: Mapped[int | None]
    # Added by 0010. FetchedValue: an INSERT that does not set them (code run on a schema before
    # 0010, as the batch-identity migration test does) leaves them out; NULL is their default.
    expires_at: Mapped[int | None] = mapped_column(server_default=FetchedValue())
    # written at most once a minute (gateway.api_keys)
    last_used_at: Mapped[int | None] = mapped_column(server_default=FetchedValue())
    # the key it was rotated to
    replaced_by: Mapped[str | None] = mapped_column(String(40), server_default=FetchedValue())


class SigningKeyRow(Base):
    __tablename__ = "signing_keys"
    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"), index=True)
    alg: Mapped[str] = mapped_column(String(16))
    public_jwk: Mapped[dict[str, Any]]
    private_pem: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[int]
    retired_at: Mapped[int | None]
    compromised_at: Mapped[int | None]
    note: Mapped[str] = mapped_column(String(500), default="")


class StatusListRow(Base):
    __tablename__ = "status_lists"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"), index=True)
    uri: Mapped[str] = mapped_column(String(300), unique=True)
    bits: Mapped[int] = mapped_column(Integer)
    size: Mapped[int]
    data: Mapped[bytes] = mapped_column(LargeBinary)
    used: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[int]


class CredentialRow(Base):
    __tablename__ = "credentials"
    __table_args__ = (
        UniqueConstraint("status_list_id", "status_idx", name="uq_credentials_status_slot"),
        Index("ix_credentials_agency_type", "agency_id", "type"),
        # One credential per register row, however many runs race (issue 8; migration 0003).
        # SQLite and PostgreSQL treat NULLs as distinct here: credentials issued one by one
        # (batch_ref NULL) never collide.
        Index("uq_credentials_batch_row", "agency_id", "batch_ref", unique=True),
        # One credential per register row whatever the file is called (issue 12; migration
        # 0015): the row's identity, its ref or else its type and subject (gateway.batch_rows).
        Index("uq_credentials_row_key", "agency_id", "row_key", unique=True),
        # An agency's list, newest first, paged by (issued_at, id); its expiry search (issue 12;
        # migration 0016, gateway.credential_query).
        Index("ix_credentials_agency_issued", "agency_id", "issued_at", "id"),
        Index("ix_credentials_agency_valid_until", "agency_id", "valid_until"),
        # A holder's credentials of a type (the holder rule, a search by holder code) in one
        # index, and a delegated copy's original in one of only the copies, so that no plan
        # reads every credential for ``delegated_from IS NULL`` or a type (migration 0017).
        Index("ix_credentials_holder_code", "holder_code", "type"),
        Index(
            "ix_credentials_delegated_from",
            "delegated_from",
            postgresql_where=text("delegated_from IS NOT NULL"),
            sqlite_where=text("delegated_from IS NOT NULL"),
        ),
    )
    __mapper_args__ = {"eager_defaults": False}  # noqa: RUF012 - never read back on INSERT
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"))
    type: Mapped[str] = mapped_column(String(64))
    identifier: Mapped[str] = mapped_column(String(128), unique=True)
    serial: Mapped[str] = mapped_column(String(32))
    version: Mapped[str] = mapped_column(String(3))
    subject: Mapped[dict[str, Any]]
    holder_code: Mapped[str] = mapped_column(String(32))
    holder_code_type: Mapped[str] = mapped_column(String(3))  # 111 ID number, 001 USCC
    holder_name: Mapped[str] = mapped_column(String(256))
    region_code: Mapped[str] = mapped_column(String(6))  # 管辖属地编码 (GB/T 2260)
    token: Mapped[str] = mapped_column(Text)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kid: Mapped[str] = mapped_column(ForeignKey("signing_keys.kid"), index=True)
    issued_at: Mapped[int]
    valid_from: Mapped[int]
    valid_until: Mapped[int | None]
    status_code: Mapped[str] = mapped_column(String(2), default="01")
    status_list_id: Mapped[int] = mapped_column(ForeignKey("status_lists.id"))
    status_idx: Mapped[int]
    batch_ref: Mapped[str | None] = mapped_column(String(200))  # "{batch id}:{row ref}"
    supersedes: Mapped[str | None] = mapped_column(String(40))
    # A delegated copy (委托用证, ``delegations``) names the credential it was delegated from;
    # its agency's views of issued credentials leave copies out.
    delegated_from: Mapped[str | None] = mapped_column(String(40))
    # Added by 0015, set for credentials issued from a register: the row's identity and a hash
    # of its content (gateway.batch_rows). FetchedValue: an INSERT that does not set them (code
    # run on a schema before 0015) leaves them out; NULL is their default.
    row_key: Mapped[str | None] = mapped_column(String(66), server_default=FetchedValue())
    row_content: Mapped[str | None] = mapped_column(String(64), server_default=FetchedValue())


class StatusChangeRow(Base):
    __tablename__ = "status_changes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    credential_id: Mapped[str] = mapped_column(ForeignKey("credentials.id"), index=True)
    from_code: Mapped[str] = mapped_column(String(2))
    to_code: Mapped[str] = mapped_column(String(2))
    reason: Mapped[str] = mapped_column(String(500))
    actor: Mapped[str] = mapped_column(String(80))
    at: Mapped[int]


class SerialCounterRow(Base):
    """Next 流水号 per agency and year; blocks are reserved with an atomic UPDATE."""

    __tablename__ = "serial_counters"
    agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    next_value: Mapped[int]


class IdempotencyRow(Base):
    __tablename__ = "idempotency_keys"
    agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    credential_id: Mapped[str] = mapped_column(ForeignKey("credentials.id"))
    created_at: Mapped[int]


class AuditRow(Base):
    """Who did what, when: one leaf of the Merkle audit log each (``gateway.auditlog``). The
    leaf's data is the canonical JSON of these columns and ``leaf_index``; ``leaf_hash`` its
    RFC 9162 leaf hash. Written only through :func:`gateway.audit.record`."""

    __tablename__ = "audit_log"
    __mapper_args__ = {"eager_defaults": False}  # noqa: RUF012 - never read back on INSERT
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[int]
    actor: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(128))
    detail: Mapped[dict[str, Any]]
    # Set as the row is flushed (``gateway.audit``); FetchedValue: an INSERT without them (code
    # run on a schema before 0012, whose backfill makes the rows leaves) leaves them out.
    leaf_index: Mapped[int] = mapped_column(unique=True, server_default=FetchedValue())
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32), server_default=FetchedValue())


# --- federation (OpenID Federation roles, keys, subordinates, trust lists, peers) -------------


class FederationRow(Base):
    """This gateway's place in the federation (id is always 1): role, entity id, superior."""

    __tablename__ = "federation"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    role: Mapped[str] = mapped_column(String(10))  # "anchor" | "city"
    entity_id: Mapped[str] = mapped_column(String(256))
    region_id: Mapped[str] = mapped_column(String(64))
    region_name: Mapped[str] = mapped_column(String(64))
    superior_id: Mapped[str | None] = mapped_column(String(256))  # a city's region anchor
    superior_jwks: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # pinned
    created_at: Mapped[int]
    root: Mapped[str | None] = mapped_column(Text)  # signed root metadata for offline kiosks
    root_history: Mapped[list[str]] = mapped_column(JSON, default=list)  # older signed roots
    superior_root: Mapped[str | None] = mapped_column(Text)  # a city's trusted anchor root


class FederationKeyRow(Base):
    """Federation signing keys (never credential keys): the gateway's own and its agencies'."""

    __tablename__ = "federation_keys"
    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64), index=True)  # "self" or an agency id
    public_jwk: Mapped[dict[str, Any]]
    private_pem: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[int]
    retired_at: Mapped[int | None]


class SubordinateRow(Base):
    """An entity this gateway vouches for: an anchor's cities and peer regions' anchors."""

    __tablename__ = "subordinates"
    entity_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))  # "city" | "region"
    name: Mapped[str] = mapped_column(String(128))
    jwks: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # its federation JWKs
    credential_types: Mapped[list[str]]
    status: Mapped[str] = mapped_column(String(10))  # "pending" | "approved" | "removed"
    policy: Mapped[str] = mapped_column(String(128), default="")  # cross-region agreement name
    requested_at: Mapped[int]
    decided_at: Mapped[int | None]
    decided_by: Mapped[str | None] = mapped_column(String(80))
    # A join request waiting for the operator (gateway.join_requests): its id, the client
    # address it came from and when it expires (None once decided).
    request_id: Mapped[str | None] = mapped_column(String(40), default=None)
    client_address: Mapped[str | None] = mapped_column(String(64), default=None)
    expires_at: Mapped[int | None] = mapped_column(default=None)


class TrustListRow(Base):
    """Signed trust lists this gateway compiled, one row a version."""

    __tablename__ = "trust_lists"
    version: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    iat: Mapped[int]
    exp: Mapped[int]
    content_hash: Mapped[str] = mapped_column(String(64))
    token: Mapped[str] = mapped_column(Text)
    # Entries of issuers we could not reach whose chains expired: not in the signed list, but
    # kept so this gateway answers TRUST_LIST_STALE for them, never UNKNOWN_ISSUER.
    stale: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)


class PeerDocumentRow(Base):
    """The last good copy of a peer's document, and how fetching it has been going."""

    __tablename__ = "peer_documents"
    url: Mapped[str] = mapped_column(String(512), primary_key=True)
    body: Mapped[str | None] = mapped_column(Text)
    fetched_at: Mapped[int | None]
    expires_at: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    last_error_at: Mapped[int | None]
    failures: Mapped[int] = mapped_column(default=0)


class WalletOfferRow(Base):
    """A credential offer to a wallet (OpenID4VCI pre-authorised code flow), and the access
    token it was redeemed for. Keyed by the SHA-256 of the pre-authorised code (which is also
    the secret in the offer's URI): the code itself is never stored, nor the tx_code, whose
    hash is keyed by the code. Redeemed once: the redeeming UPDATE requires ``redeemed_at IS
    NULL``; the token is used once: the issuing UPDATE requires ``delivered_at IS NULL``."""

    __tablename__ = "wallet_offers"
    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    credential_id: Mapped[str] = mapped_column(ForeignKey("credentials.id"), index=True)
    configuration_id: Mapped[str] = mapped_column(String(64))
    pin_hash: Mapped[str] = mapped_column(String(64))
    pin_failures: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[int]
    expires_at: Mapped[int]
    redeemed_at: Mapped[int | None]
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    token_expires_at: Mapped[int | None]
    delivered_at: Mapped[int | None]
    holder_kid: Mapped[str | None] = mapped_column(String(64))


class WalletNonceRow(Base):
    """A ``c_nonce`` from the Nonce Endpoint (by its SHA-256), used by one key proof at most."""

    __tablename__ = "wallet_nonces"
    nonce_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[int] = mapped_column(index=True)
    used_at: Mapped[int | None]


# --- counters (OpenID4VP verifiers) ---------------------------------------------------------


class VerifierRow(Base):
    """A counter or kiosk that asks wallets for presentations: a federation leaf of its city
    (``{city}/verifiers/{id}``) with its own federation key (``FederationKeyRow.owner`` = id),
    a role from ``issuers/roles`` and an API key (``vk_<id>_<secret>``, by its SHA-256)."""

    __tablename__ = "verifiers"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(64))
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[int]


class PresentationRequestRow(Base):
    """A counter's OpenID4VP request: what it asked, its signed request object, its nonce (by
    SHA-256; single use is an UPDATE requiring ``answered_at IS NULL``) and, once answered,
    the result with its reason code. A request lives five minutes."""

    __tablename__ = "presentation_requests"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    verifier_id: Mapped[str] = mapped_column(ForeignKey("verifiers.id"), index=True)
    credential_type: Mapped[str] = mapped_column(String(64))
    fields: Mapped[list[str]]
    purpose: Mapped[str] = mapped_column(String(800))
    nonce_hash: Mapped[str] = mapped_column(String(64), unique=True)
    state: Mapped[str] = mapped_column(String(64), unique=True)
    token: Mapped[str] = mapped_column(Text)
    created_at: Mapped[int]
    expires_at: Mapped[int] = mapped_column(index=True)
    answered_at: Mapped[int | None]
    reason_code: Mapped[str | None] = mapped_column(String(40))
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)


# --- trust marks (OpenID Federation 1.0 §7) ----------------------------------------------------


class IssuedTrustMarkRow(Base):
    """A Trust Mark this region's anchor granted (a verifier role for a counter), by the
    SHA-256 of the signed mark: the status endpoint finds it by the mark it is shown. Revoking
    sets ``revoked_at``; the row stays, so the status endpoint answers ``revoked``."""

    __tablename__ = "issued_trust_marks"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    subject: Mapped[str] = mapped_column(String(256), index=True)
    trust_mark_type: Mapped[str] = mapped_column(String(512))
    role: Mapped[str] = mapped_column(String(64))
    token: Mapped[str] = mapped_column(Text)
    iat: Mapped[int]
    exp: Mapped[int | None]
    issued_by: Mapped[str] = mapped_column(String(80))
    revoked_at: Mapped[int | None]
    revoked_by: Mapped[str | None] = mapped_column(String(80))


class VerifierTrustMarkRow(Base):
    """A Trust Mark a counter of this city holds (checked when attached), one per type: the
    counter's Entity Configuration carries it in ``trust_marks``."""

    __tablename__ = "verifier_trust_marks"
    verifier_id: Mapped[str] = mapped_column(ForeignKey("verifiers.id"), primary_key=True)
    trust_mark_type: Mapped[str] = mapped_column(String(512), primary_key=True)
    role: Mapped[str] = mapped_column(String(64))
    token: Mapped[str] = mapped_column(Text)
    exp: Mapped[int | None]
    added_at: Mapped[int]


# --- reference codes (亮证码, issue 10) --------------------------------------------------------


class HolderProofIdRow(Base):
    """A holder proof's ``jti`` (by SHA-256), spent once; kept until the proof's ``iat`` window
    is over, then dropped as new ones come."""

    __tablename__ = "holder_proof_ids"
    jti_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[int] = mapped_column(index=True)


class ReferenceCodeRow(Base):
    """A reference code a holder asked for (by the SHA-256 of its canonical form; the code is
    never stored), bound to one delivered credential and the wallet key that asked. Resolved
    once: the resolving UPDATE requires ``used_at IS NULL`` and ``expires_at > now``."""

    __tablename__ = "reference_codes"
    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    credential_id: Mapped[str] = mapped_column(ForeignKey("credentials.id"), index=True)
    holder_kid: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[int]
    expires_at: Mapped[int] = mapped_column(index=True)
    used_at: Mapped[int | None]
    used_by: Mapped[str | None] = mapped_column(String(40))
    # A paper code (printed, long-lived) is resolved any number of times; ``used_at`` stays NULL.
    paper: Mapped[bool] = mapped_column(default=False, server_default=false())


class ReferenceUseRow(Base):
    """One resolution of a reference code (用证记录): which counter (entity, name, city), when,
    why, which fields it was shown and the answer's reason code. No field values: the record
    identifies the credential, nothing more of the holder."""

    __tablename__ = "reference_uses"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    credential_id: Mapped[str] = mapped_column(ForeignKey("credentials.id"), index=True)
    verifier_id: Mapped[str] = mapped_column(String(40))
    verifier_entity: Mapped[str] = mapped_column(String(256))
    verifier_name: Mapped[str] = mapped_column(String(128))
    city_name: Mapped[str] = mapped_column(String(64))
    city_code: Mapped[str] = mapped_column(String(6))
    at: Mapped[int]
    purpose: Mapped[str] = mapped_column(String(800))
    fields: Mapped[list[str]]
    reason_code: Mapped[str] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(16), default="code", server_default="code")
    # Shown by a delegate (委托用证): the delegation and the delegate's name; NULL: the holder.
    delegation_id: Mapped[str | None] = mapped_column(String(40))
    delegate_name: Mapped[str | None] = mapped_column(String(64))


class DelegationRow(Base):
    """A holder's delegation of a credential (``credential_id``) to an agent's wallet: the
    delegate's name, the purposes (1–5 short texts), until when, and the delegated copy the agent
    receives (``copy_id``: a credential row of its own status list entry, ``delegated_from`` the
    original). Revoking sets ``revoked_at`` and the copy's status entry INVALID."""

    __tablename__ = "delegations"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    credential_id: Mapped[str] = mapped_column(ForeignKey("credentials.id"), index=True)
    copy_id: Mapped[str] = mapped_column(ForeignKey("credentials.id"), unique=True)
    delegate_name: Mapped[str] = mapped_column(String(64))
    purposes: Mapped[list[str]]
    until: Mapped[int]
    delegator_kid: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[int]
    revoked_at: Mapped[int | None]


class UseReportRow(Base):
    """A use of another gateway's credential seen here (a presentation at one of this city's
    counters), as the signed message to its issuing gateway (``body``), kept until delivered:
    the background sync retries it from ``next_attempt_at``."""

    __tablename__ = "use_reports"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    to_entity: Mapped[str] = mapped_column(String(256))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[int]
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[int] = mapped_column(index=True)
    delivered_at: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(String(300))


class ReferenceFailureRow(Base):
    """A code a counter tried that resolved nothing (unknown, expired or used), for throttling
    across processes; rows older than the window are dropped as new ones come."""

    __tablename__ = "reference_failures"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    verifier_id: Mapped[str] = mapped_column(String(40), index=True)
    at: Mapped[int] = mapped_column(index=True)


# --- audit log as a Merkle tree (issue 11, audit part; migration 0012) -------------------------


class AuditTreeRow(Base):
    """The audit tree's state (id is always 1): its size and the roots of the complete subtrees
    that make it up (``trust.merkle.CompactRange``), updated with every leaf, under a row lock."""

    __tablename__ = "audit_tree"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    size: Mapped[int]
    hashes: Mapped[list[str]] = mapped_column(JSON)  # hex, largest subtree first
    updated_at: Mapped[int]


class AuditNodeRow(Base):
    """Cached roots of complete subtrees of 2**level leaves (levels 8, 16, 24 …) starting at
    leaf ``position * 2**level``, so that a proof never rehashes the whole log."""

    __tablename__ = "audit_nodes"
    level: Mapped[int] = mapped_column(Integer, primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class AuditCheckpointRow(Base):
    """A signed tree head this gateway published (``GET /audit/checkpoint``), kept as history."""

    __tablename__ = "audit_checkpoints"
    tree_size: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    jws: Mapped[str] = mapped_column(Text)
    signed_at: Mapped[int] = mapped_column(index=True)


# --- audit witnesses (issue 11: peers witness each other's audit logs) --------------------------


class WitnessedPeerRow(Base):
    """What this gateway last verified of a peer's audit log (the head it would co-sign), and
    how witnessing it has been going."""

    __tablename__ = "audit_witnessed_peers"
    peer: Mapped[str] = mapped_column(String(256), primary_key=True)  # the peer's entity id
    tree_size: Mapped[int | None]
    root_hash: Mapped[str | None] = mapped_column(String(43))  # base64url
    checkpoint: Mapped[str | None] = mapped_column(Text)  # the signed head verified
    checkpoint_iat: Mapped[int | None]
    first_seen_at: Mapped[int | None]
    verified_at: Mapped[int | None]
    cosigned_at: Mapped[int | None]  # when the peer took our cosignature of that head
    last_attempt_at: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(String(500))


class WitnessAlarmRow(Base):
    """A peer's log found truncated, rolled back, rewritten, badly signed or stale; it stands
    until an operator acknowledges it (one open alarm per peer and kind: seen again, counted)."""

    __tablename__ = "audit_witness_alarms"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    peer: Mapped[str] = mapped_column(String(256), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(String(1000))  # zh-CN
    message_en: Mapped[str] = mapped_column(String(1000))
    tree_size: Mapped[int | None]  # the offending head, when it was a valid one
    root_hash: Mapped[str | None] = mapped_column(String(43))
    checkpoint: Mapped[str | None] = mapped_column(Text)
    seen_tree_size: Mapped[int | None]  # what had been verified before
    seen_root_hash: Mapped[str | None] = mapped_column(String(43))
    raised_at: Mapped[int]
    last_seen_at: Mapped[int]
    times: Mapped[int] = mapped_column(default=1)
    acked_at: Mapped[int | None] = mapped_column(index=True)
    acked_by: Mapped[str | None] = mapped_column(String(80))


class CosignatureRow(Base):
    """A peer's cosignature of one of this gateway's checkpoints (``POST /audit/cosignature``)."""

    __tablename__ = "audit_cosignatures"
    __table_args__ = (UniqueConstraint("witness", "tree_size", "root_hash"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    witness: Mapped[str] = mapped_column(String(256), index=True)
    tree_size: Mapped[int]
    root_hash: Mapped[str] = mapped_column(String(43))
    iat: Mapped[int]
    token: Mapped[str] = mapped_column(Text)
    received_at: Mapped[int]


# --- the agency console (/console): operators and their sessions (0014) ----------------------


class OperatorRow(Base):
    """An agency's console operator (``ecert agency operator add``): an argon2id password hash
    and an RFC 6238 TOTP secret (``gateway.console_auth``); never returned by any route."""

    __tablename__ = "console_operators"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"), index=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    totp_secret: Mapped[str] = mapped_column(String(64))
    # the last TOTP time step accepted: a code of that step or an earlier one is a replay
    totp_last_step: Mapped[int | None]
    failed_attempts: Mapped[int] = mapped_column(default=0)  # consecutive, reset on sign-in
    disabled_at: Mapped[int | None]
    created_at: Mapped[int]
    last_sign_in_at: Mapped[int | None]


class OperatorSessionRow(Base):
    """A signed-in console session: the SHA-256 of its opaque random id (the cookie holds the
    id itself), when it ends (idle and absolute), and when it was signed out or revoked."""

    __tablename__ = "console_sessions"
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    operator_id: Mapped[str] = mapped_column(ForeignKey("console_operators.id"), index=True)
    created_at: Mapped[int]
    last_seen_at: Mapped[int]
    expires_at: Mapped[int]  # absolute: ECERT_CONSOLE_SESSION_MAX after sign-in
    revoked_at: Mapped[int | None]
