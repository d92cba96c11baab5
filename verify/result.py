"""The verification result: one reason code, what may be shown, and how fresh the data was."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trust.snapshot import ChainLink
from verify.reasons import MESSAGES, Reason


@dataclass(frozen=True)
class ShownField:
    name: str
    label_zh: str
    label_en: str
    value: Any


@dataclass(frozen=True)
class CredentialView:
    type: str
    type_name_zh: str
    type_name_en: str
    identifier: str | None
    fields: tuple[ShownField, ...]
    issued_at: int
    valid_from: int
    valid_until: int | None


@dataclass(frozen=True)
class IssuerView:
    id: str
    name: str
    chain: tuple[ChainLink, ...]


@dataclass(frozen=True)
class VerificationResult:
    """Non-raising answer of the verifier. ``detail`` is technical English for logs and APIs."""

    reason: Reason
    detail: str
    checked_at: int
    credential: CredentialView | None = None
    issuer: IssuerView | None = None
    trust_as_of: int | None = None
    status_as_of: int | None = None
    token_hash: bytes | None = None

    @property
    def valid(self) -> bool:
        return self.reason is Reason.VALID

    @property
    def message_zh(self) -> str:
        return MESSAGES[self.reason][0]

    @property
    def message_en(self) -> str:
        return MESSAGES[self.reason][1]
