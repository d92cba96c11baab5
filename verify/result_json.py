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
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # attributes only: rendering loads neither keys nor the verifier
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


def verification_json(result: VerificationResult) -> dict[str, Any]:
    """The public JSON of a verification (shape documented in the README)."""
    cred = result.credential
    issuer = result.issuer
    personal = cred is not None and cred.type_info.personal
    message = {"zh": result.message_zh, "en": result.message_en}
    return {
        "valid": result.valid,
        "reason": result.reason.value,
        "message": NOT_THE_HOLDER if personal and result.valid else message,
        "detail": result.detail,
        "credential": None
        if cred is None
        else {
            "type": cred.type,
            "type_name": {"zh": cred.type_name_zh, "en": cred.type_name_en},
            "holder_identified": not cred.type_info.personal,
            "identifier": cred.identifier,
            "fields": [
                {"name": f.name, "label": {"zh": f.label_zh, "en": f.label_en}, "value": f.value}
                for f in cred.fields
            ],
            "issued_at": iso(cred.issued_at),
            "valid_from": iso(cred.valid_from),
            "valid_until": iso(cred.valid_until),
        },
        "issuer": None
        if issuer is None
        else {
            "id": issuer.id,
            "name": issuer.name,
            "chain": [{"name": c.name, "role": c.role, "id": c.id} for c in issuer.chain],
        },
        "checked_at": iso(result.checked_at),
        "freshness": freshness_json(
            checked_at=result.checked_at,
            trust_as_of=result.trust_as_of,
            status_as_of=result.status_as_of,
            status_max_age=result.status_max_age,
        ),
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
