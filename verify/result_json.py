"""The public JSON of a verification result: plain dicts, the shape the README documents.

One rendering for every face: the HTTP API (``gateway.schemas`` re-exports it), ``ecert verify``
at a gateway's data directory, and the offline kiosk (``ecert verify --offline``), which must not
load pydantic or the gateway to print an answer. Times are ISO 8601 in China Standard Time, what
the counter reads.

Deliberately not here: deciding anything (:mod:`verify.verifier`), and pydantic response
models (the API's schemas stay in ``gateway.schemas``).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # attributes only: rendering loads neither keys nor the verifier
    from verify.result import VerificationResult

CHINA_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")  # no DST since 1991


def iso(ts: int | None) -> str | None:
    """Unix seconds → ISO 8601 in China Standard Time (what the counter reads)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, CHINA_TZ).isoformat()


def verification_json(result: VerificationResult) -> dict[str, Any]:
    """The public JSON of a verification (shape documented in the README)."""
    cred = result.credential
    issuer = result.issuer
    return {
        "valid": result.valid,
        "reason": result.reason.value,
        "message": {"zh": result.message_zh, "en": result.message_en},
        "detail": result.detail,
        "credential": None
        if cred is None
        else {
            "type": cred.type,
            "type_name": {"zh": cred.type_name_zh, "en": cred.type_name_en},
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
        "freshness": {"trust": iso(result.trust_as_of), "status": iso(result.status_as_of)},
    }
