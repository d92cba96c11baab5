"""One trust list entry: an issuing agency's credential key, what it may issue, and its life.

An entry is keyed by ``(issuer, kid)``: an agency with three keys (one active, two rotated out)
has three entries, and their issuer-level fields (name, USCC, chain, types, acceptance policy,
status lists) must agree, which :class:`trust.trustlist.document.TrustList` checks.

The key's life is told twice, on purpose, and the two must agree: as the window verifiers
decide with (``not_before``, ``retired_at``, ``compromised_at``) and as the status history an
operator reads (``active`` → ``rotated`` | ``retired`` → ``compromised``).

Deliberately not here: verifying the key's chain of trust (the compiling gateway does that before
it writes an entry; ``chain_exp`` records when the earliest statement of that chain expires) and
deciding anything about a credential.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trust.errors import StatusListError
from trust.keys import PublicKey
from trust.snapshot import ISSUER_CHAIN_MAX, ChainLink, IssuerRecord, KeyRecord
from trust.statuslist import StatusReference
from trust.trustlist.errors import TrustListError
from trust.trustlist.fields import MAX_SAFE_INT, MAX_TEXT, Fields, is_int, public_key, show

ACTIVE, ROTATED, RETIRED, COMPROMISED = "active", "rotated", "retired", "compromised"
KEY_STATUSES = (ACTIVE, ROTATED, RETIRED, COMPROMISED)
# A key starts active; it stops signing (rotated: a successor took over; retired: none did), and
# may be found compromised at any point after. Compromise is final.
_NEXT_STATUS = {
    ACTIVE: frozenset({ROTATED, RETIRED, COMPROMISED}),
    ROTATED: frozenset({RETIRED, COMPROMISED}),
    RETIRED: frozenset({COMPROMISED}),
    COMPROMISED: frozenset[str](),
}
CHAIN_ROLES = ("agency", "city", "region")
MAX_TYPES = 64
MAX_STATUS_LISTS = 64
MAX_HISTORY = 16
_ENTRY_REQUIRED = frozenset(
    {
        "issuer", "name", "uscc", "region_code", "chain", "kid", "jwk", "types", "accepted",
        "policy", "status_lists", "not_before", "retired_at", "compromised_at", "history",
        "chain_exp",
    }
)  # fmt: skip


@dataclass(frozen=True)
class KeyEvent:
    """One step of a key's status history: ``{"status", "at"}``."""

    status: str
    at: int

    def __post_init__(self) -> None:
        if self.status not in KEY_STATUSES:
            raise TrustListError(
                f"expected a key status in {KEY_STATUSES}, found {show(self.status)}"
            )
        if not is_int(self.at) or not 0 <= self.at <= MAX_SAFE_INT:
            raise TrustListError(
                f"expected a key event time in Unix seconds, found {show(self.at)}"
            )


def _text_ok(value: object, max_length: int = MAX_TEXT) -> bool:
    return isinstance(value, str) and 0 < len(value) <= max_length


@dataclass(frozen=True)
class TrustListEntry:
    """An issuing agency's key as the trust list carries it (all times Unix seconds)."""

    issuer: str
    name: str
    uscc: str
    region_code: str
    chain: tuple[ChainLink, ...]
    key: PublicKey
    types: frozenset[str]
    accepted: frozenset[str] | None
    policy: str
    status_lists: tuple[str, ...]
    not_before: int
    retired_at: int | None
    compromised_at: int | None
    history: tuple[KeyEvent, ...]
    chain_exp: int

    def __post_init__(self) -> None:
        where = f"entry ({show(self.issuer)}, {self.key.kid})"
        for name in ("issuer", "name", "uscc", "region_code"):
            if not _text_ok(getattr(self, name)):
                raise TrustListError(
                    f"expected {where} {name} to be a non-empty string of at most {MAX_TEXT} "
                    f"characters, found {show(getattr(self, name))}"
                )
        if len(self.policy) > MAX_TEXT:
            raise TrustListError(f"expected {where} policy of at most {MAX_TEXT} characters")
        self._check_chain(where)
        self._check_sets(where)
        self._check_life(where)

    def _check_chain(self, where: str) -> None:
        if not 0 < len(self.chain) <= ISSUER_CHAIN_MAX:
            raise TrustListError(
                f"expected {where} chain of 1 to {ISSUER_CHAIN_MAX} links, found {len(self.chain)}"
            )
        for link in self.chain:
            if link.role not in CHAIN_ROLES or not _text_ok(link.name) or not _text_ok(link.id):
                raise TrustListError(
                    f"expected {where} chain links with a name, an id and a role in "
                    f"{CHAIN_ROLES}, found {show(link)}"
                )
        if self.chain[0].role != "agency" or self.chain[0].id != self.issuer:
            raise TrustListError(
                f"expected {where} chain to start with the agency {show(self.issuer)} itself, "
                f"found {show(self.chain[0])}"
            )

    def _check_sets(self, where: str) -> None:
        for name, values, limit in (
            ("types", self.types, MAX_TYPES),
            ("accepted", self.accepted or frozenset(), MAX_TYPES),
            ("status_lists", self.status_lists, MAX_STATUS_LISTS),
        ):
            if len(values) > limit or not all(_text_ok(v) for v in values):
                raise TrustListError(
                    f"expected {where} {name} to hold at most {limit} non-empty strings, "
                    f"found {show(sorted(values))}"
                )
        if list(self.status_lists) != sorted(set(self.status_lists)):
            raise TrustListError(
                f"expected {where} status_lists sorted without duplicates, "
                f"found {show(self.status_lists)}"
            )
        for uri in self.status_lists:
            try:
                StatusReference(idx=0, uri=uri)  # a URI a credential's status claim can name
            except StatusListError as exc:
                raise TrustListError(f"{where}: {exc}") from exc

    def _check_life(self, where: str) -> None:
        for name in ("not_before", "chain_exp"):
            value = getattr(self, name)
            if not is_int(value) or not 0 <= value <= MAX_SAFE_INT:
                raise TrustListError(
                    f"expected {where} {name} in Unix seconds, found {show(value)}"
                )
        if not 0 < len(self.history) <= MAX_HISTORY:
            raise TrustListError(
                f"expected {where} history of 1 to {MAX_HISTORY} events, found {len(self.history)}"
            )
        first = self.history[0]
        if (first.status, first.at) != (ACTIVE, self.not_before):
            raise TrustListError(
                f"expected {where} history to start active at not_before {self.not_before}, "
                f"found {first.status} at {first.at}"
            )
        for before, after in zip(self.history, self.history[1:], strict=False):
            if after.status not in _NEXT_STATUS[before.status] or after.at < before.at:
                raise TrustListError(
                    f"expected {where} history to move on from {before.status} at {before.at} "
                    f"to one of {sorted(_NEXT_STATUS[before.status])} no earlier, "
                    f"found {after.status} at {after.at}"
                )
        stopped = next((e.at for e in self.history if e.status in (ROTATED, RETIRED)), None)
        if self.retired_at != stopped:
            raise TrustListError(
                f"expected {where} retired_at {stopped} (its history's first rotated or retired "
                f"event), found {self.retired_at}"
            )
        compromised = next((e.at for e in self.history if e.status == COMPROMISED), None)
        if self.compromised_at != compromised:
            raise TrustListError(
                f"expected {where} compromised_at {compromised} (its history's compromised "
                f"event), found {self.compromised_at}"
            )

    @property
    def kid(self) -> str:
        return self.key.kid

    @property
    def entry_key(self) -> tuple[str, str]:
        """``(issuer, kid)``: what a delta's tombstone names."""
        return (self.issuer, self.key.kid)

    def issuer_fields(self) -> tuple[object, ...]:
        """The fields every entry of one issuer must agree on."""
        return (
            self.name, self.uscc, self.region_code, self.chain, self.types, self.accepted,
            self.policy, self.status_lists,
        )  # fmt: skip

    def to_issuer_record(self) -> IssuerRecord:
        return IssuerRecord(
            id=self.issuer,
            name=self.name,
            uscc=self.uscc,
            region_code=self.region_code,
            types=self.types,
            chain=self.chain,
            accepted=self.accepted,
            policy=self.policy,
        )

    def to_key_record(self) -> KeyRecord:
        # confirmed_hashes stays empty: an offline verifier cannot ask the issuing gateway which
        # tokens it issued before a compromise, so it fails closed for every compromised key.
        return KeyRecord(
            key=self.key,
            issuer_id=self.issuer,
            not_before=self.not_before,
            retired_at=self.retired_at,
            compromised_at=self.compromised_at,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "name": self.name,
            "uscc": self.uscc,
            "region_code": self.region_code,
            "chain": [{"name": c.name, "role": c.role, "id": c.id} for c in self.chain],
            "kid": self.key.kid,
            "jwk": dict(self.key.jwk),
            "types": sorted(self.types),
            "accepted": None if self.accepted is None else sorted(self.accepted),
            "policy": self.policy,
            "status_lists": list(self.status_lists),
            "not_before": self.not_before,
            "retired_at": self.retired_at,
            "compromised_at": self.compromised_at,
            "history": [{"status": e.status, "at": e.at} for e in self.history],
            "chain_exp": self.chain_exp,
        }

    @classmethod
    def from_json(cls, obj: object, *, where: str = "trust list entry") -> TrustListEntry:
        f = Fields(obj, what=where, required=_ENTRY_REQUIRED)
        chain = []
        for i, raw in enumerate(f.items("chain", max_items=ISSUER_CHAIN_MAX)):
            link = Fields(
                raw, what=f"{where} chain[{i}]", required=frozenset({"name", "role", "id"})
            )
            chain.append(
                ChainLink(name=link.text("name"), role=link.text("role"), id=link.text("id"))
            )
        history = []
        for i, raw in enumerate(f.items("history", max_items=MAX_HISTORY)):
            event = Fields(raw, what=f"{where} history[{i}]", required=frozenset({"status", "at"}))
            history.append(KeyEvent(status=event.text("status"), at=event.integer("at")))
        accepted = f.optional_texts("accepted", max_items=MAX_TYPES)
        return cls(
            issuer=f.text("issuer"),
            name=f.text("name"),
            uscc=f.text("uscc"),
            region_code=f.text("region_code"),
            chain=tuple(chain),
            key=_key(f, where),
            types=frozenset(f.texts("types", max_items=MAX_TYPES)),
            accepted=None if accepted is None else frozenset(accepted),
            policy=f.text("policy", empty=True),
            status_lists=f.texts("status_lists", max_items=MAX_STATUS_LISTS),
            not_before=f.integer("not_before"),
            retired_at=f.optional_integer("retired_at"),
            compromised_at=f.optional_integer("compromised_at"),
            history=tuple(history),
            chain_exp=f.integer("chain_exp"),
        )


def _key(f: Fields, where: str) -> PublicKey:
    """The entry's public JWK; its RFC 7638 thumbprint must be the entry's ``kid``."""
    return public_key(f.raw("jwk"), kid=f.text("kid"), what=f"{where} jwk")
