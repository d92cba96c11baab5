"""The verification result: one reason code, what may be shown, and how fresh the data was."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from trust.snapshot import IssuerRecord, TypeInfo
from verify.reasons import MESSAGES, Reason


@dataclass(frozen=True, slots=True)
class ShownField:
    name: str
    label_zh: str
    label_en: str
    value: Any


class CredentialView(NamedTuple):
    """What a verified token says. ``values`` are the signed public fields as they came;
    ``fields`` pairs them with their zh/en labels when a page or API shows them."""

    type_info: TypeInfo
    identifier: str | None
    values: Mapping[str, Any]
    issued_at: int
    valid_from: int
    valid_until: int | None

    @property
    def type(self) -> str:
        return self.type_info.code

    @property
    def type_name_zh(self) -> str:
        return self.type_info.name_zh

    @property
    def type_name_en(self) -> str:
        return self.type_info.name_en

    @property
    def fields(self) -> tuple[ShownField, ...]:
        label = self.type_info.label
        return tuple(
            ShownField(name, label(name).zh, label(name).en, value)
            for name, value in self.values.items()
        )


class VerificationResult(NamedTuple):
    """Non-raising answer of the verifier. ``detail`` is technical English for logs and APIs."""

    reason: Reason
    detail: str
    checked_at: int
    credential: CredentialView | None = None
    issuer: IssuerRecord | None = None
    trust_as_of: int | None = None
    status_as_of: int | None = None
    token: str | None = None
    status_max_age: int | None = None  # the bound on the status data's age that applied

    @property
    def status_age(self) -> int | None:
        """How old the status data was when the answer was made, seconds."""
        return None if self.status_as_of is None else max(0, self.checked_at - self.status_as_of)

    @property
    def token_hash(self) -> bytes | None:
        """SHA-256 of the verified token (what issuance records and use records key on)."""
        return None if self.token is None else hashlib.sha256(self.token.encode()).digest()

    @property
    def valid(self) -> bool:
        return self.reason is Reason.VALID

    @property
    def message_zh(self) -> str:
        return MESSAGES[self.reason][0]

    @property
    def message_en(self) -> str:
        return MESSAGES[self.reason][1]
