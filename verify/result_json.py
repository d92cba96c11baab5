"""The public JSON of a verification result: plain dicts, the shape the README documents.

One rendering for every face: the HTTP API (``gateway.schemas`` re-exports it), ``ecert verify``
at a gateway's data directory, and the offline kiosk (``ecert verify --offline``), which must not
load pydantic or the gateway to print an answer. Times are ISO 8601 in China Standard Time, what
the counter reads.

Deliberately not here: deciding anything (:mod:`verify.verifier`), and pydantic response
models (the API's schemas stay in ``gateway.schemas``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, TypeVar

from verify.reasons import MESSAGES, Reason

if TYPE_CHECKING:  # attributes only: rendering loads neither keys nor the verifier
    from trust.snapshot import IssuerRecord, TypeInfo
    from verify.result import VerificationResult

CHINA_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")  # no DST since 1991


def iso(ts: int | None) -> str | None:
    """Unix seconds → ISO 8601 in China Standard Time (what the counter reads)."""
    if ts is None:
        return None
    return _iso(ts)


@functools.lru_cache(maxsize=4096)  # an answer renders ~6 times, most repeat (issue 13)
def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, CHINA_TZ).isoformat()


# What a valid QR of a personal type says instead of a bare "valid" (issue 9): the QR proves the
# certificate, never who holds it.
NOT_THE_HOLDER = {
    "zh": "证照真实存在且当前有效，但此二维码不能证明出示人就是持证人。如需核验身份，"
    "请持证人用电子证照钱包向本柜台出示（由柜台发起出示请求）。",
    "en": "The certificate exists and is current, but this QR does not show who holds it. To "
    "verify the holder, ask them to present it from their e-certificate wallet (the counter "
    "starts a presentation request).",
}


_VALID = Reason.VALID
_MESSAGES = {reason: {"zh": zh, "en": en} for reason, (zh, en) in MESSAGES.items()}
_HELD = 1024  # renderings of types and issuers kept; a trust snapshot holds far fewer

_Obj = TypeVar("_Obj")
_Out = TypeVar("_Out")


class _ByIdentity(Generic[_Obj, _Out]):
    """Renderings of immutable objects (frozen dataclasses of strings and tuples: a
    :class:`~trust.snapshot.TypeInfo`, an :class:`~trust.snapshot.IssuerRecord`), kept by
    identity beside the object itself, so that an id is never reused while its entry is held.
    An object built anew (a new trust snapshot: an issuer renamed, re-chained, re-keyed; a type
    renamed) is another object and is rendered afresh; nothing is compared or hashed by value.
    At most ``size`` entries; when full, all are dropped (old snapshots' objects go with them).
    """

    def __init__(self, render: Callable[[_Obj], _Out], *, size: int = _HELD) -> None:
        self._render = render
        self._size = size
        self._held: dict[int, tuple[_Obj, _Out]] = {}

    def get(self, obj: _Obj) -> _Out:
        held = self._held.get(id(obj))
        if held is not None and held[0] is obj:
            return held[1]
        out = self._render(obj)
        if len(self._held) >= self._size:
            self._held.clear()
        self._held[id(obj)] = (obj, out)
        return out

    def __len__(self) -> int:
        return len(self._held)


class _TypeJSON(NamedTuple):
    """What every answer about a credential type shares: its names and its fields' labels."""

    type_name: dict[str, str]
    labels: dict[str, dict[str, str]]

    @staticmethod
    def label(name: str) -> dict[str, str]:
        """A field the type does not describe is labelled with its own name
        (:meth:`trust.snapshot.TypeInfo.label`)."""
        return {"zh": name, "en": name}


def _type_json(info: TypeInfo) -> _TypeJSON:
    labels = {}
    for field in info.labels:
        label = info.label(field.name)
        labels[field.name] = {"zh": label.zh, "en": label.en}
    return _TypeJSON({"zh": info.name_zh, "en": info.name_en}, labels)


def issuer_json(issuer: IssuerRecord) -> dict[str, Any]:
    """The public JSON of an issuer: its id, name and chain of trust, agency first."""
    return {
        "id": issuer.id,
        "name": issuer.name,
        "chain": [{"name": c.name, "role": c.role, "id": c.id} for c in issuer.chain],
    }


_types: _ByIdentity[TypeInfo, _TypeJSON] = _ByIdentity(_type_json)
_issuers: _ByIdentity[IssuerRecord, dict[str, Any]] = _ByIdentity(issuer_json)


def verification_json(result: VerificationResult) -> dict[str, Any]:
    """The public JSON of a verification (shape documented in the README).

    The parts that depend only on the credential type (its names, its fields' labels) or only
    on the issuer (its id, name and chain) are rendered once per object and shared by every
    answer (:class:`_Fragments`); callers must not change an answer's nested objects."""
    cred = result.credential
    issuer = result.issuer
    valid = result.reason is _VALID
    checked_at = result.checked_at
    status_as_of = result.status_as_of
    if cred is None:
        credential = None
        message = _MESSAGES[result.reason]
    else:
        info = cred.type_info
        kind = _types.get(info)
        labels = kind.labels
        message = NOT_THE_HOLDER if valid and info.personal else _MESSAGES[result.reason]
        credential = {
            "type": info.code,
            "type_name": kind.type_name,
            "holder_identified": not info.personal,
            "identifier": cred.identifier,
            "fields": [
                {"name": name, "label": labels.get(name) or kind.label(name), "value": value}
                for name, value in cred.values.items()
            ],
            "issued_at": _iso(cred.issued_at),
            "valid_from": _iso(cred.valid_from),
            "valid_until": None if cred.valid_until is None else _iso(cred.valid_until),
        }
    return {
        "valid": valid,
        "reason": result.reason.value,
        "message": message,
        "detail": result.detail,
        "credential": credential,
        "issuer": None if issuer is None else _issuers.get(issuer),
        "checked_at": _iso(checked_at),
        "freshness": {  # freshness_json, inline: the verify hot path
            "trust": iso(result.trust_as_of),
            "status": None if status_as_of is None else _iso(status_as_of),
            "status_age_seconds": None
            if status_as_of is None
            else max(0, checked_at - status_as_of),
            "status_max_age_seconds": result.status_max_age,
        },
    }


def freshness_json(
    *, checked_at: int, trust_as_of: int | None, status_as_of: int | None,
    status_max_age: int | None,
) -> dict[str, Any]:  # fmt: skip
    """How fresh the data behind an answer was: when the trust and status data were issued (or
    confirmed), how old the status data was when the answer was made, and the bound on that age
    which applied (the credential type's or the verifier's, the stricter; ``None``: only the
    status list's own expiry)."""
    return {
        "trust": iso(trust_as_of),
        "status": iso(status_as_of),
        "status_age_seconds": None if status_as_of is None else max(0, checked_at - status_as_of),
        "status_max_age_seconds": status_max_age,
    }
