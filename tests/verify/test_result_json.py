"""The public JSON of a verification: the same bytes as a rendering from scratch, for every
reason of the verifier's table, and the parts kept per credential type and per issuer
(issue 13) never outlive the objects they were rendered from."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

import orjson
import pytest

from tests.verify.test_verifier import AMR, BL, CASES, EID, NOW, STATUSES, TRUST, Case, _token
from trust.snapshot import ChainLink, FieldLabel, TrustSnapshot
from verify.reasons import MESSAGES, Reason
from verify.result import CredentialView, VerificationResult
from verify.result_json import CHINA_TZ, NOT_THE_HOLDER, verification_json
from verify.verifier import verify_scanned


def _iso(ts: int | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, CHINA_TZ).isoformat()


def from_scratch(result: VerificationResult) -> dict[str, Any]:
    """The rendering as the README documents it, field by field, nothing kept."""
    cred, issuer = result.credential, result.issuer
    personal = cred is not None and cred.type_info.personal
    zh, en = MESSAGES[result.reason]
    return {
        "valid": result.reason is Reason.VALID,
        "reason": result.reason.value,
        "message": NOT_THE_HOLDER if personal and result.valid else {"zh": zh, "en": en},
        "detail": result.detail,
        "credential": None
        if cred is None
        else {
            "type": cred.type_info.code,
            "type_name": {"zh": cred.type_info.name_zh, "en": cred.type_info.name_en},
            "holder_identified": not personal,
            "identifier": cred.identifier,
            "fields": [
                {
                    "name": name,
                    "label": {
                        "zh": cred.type_info.label(name).zh,
                        "en": cred.type_info.label(name).en,
                    },
                    "value": value,
                }
                for name, value in cred.values.items()
            ],
            "issued_at": _iso(cred.issued_at),
            "valid_from": _iso(cred.valid_from),
            "valid_until": _iso(cred.valid_until),
        },
        "issuer": None
        if issuer is None
        else {
            "id": issuer.id,
            "name": issuer.name,
            "chain": [{"name": c.name, "role": c.role, "id": c.id} for c in issuer.chain],
        },
        "checked_at": _iso(result.checked_at),
        "freshness": {
            "trust": _iso(result.trust_as_of),
            "status": _iso(result.status_as_of),
            "status_age_seconds": None
            if result.status_as_of is None
            else max(0, result.checked_at - result.status_as_of),
            "status_max_age_seconds": result.status_max_age,
        },
    }


def _same_bytes(result: VerificationResult) -> bytes:
    rendered = orjson.dumps(verification_json(result))
    assert rendered == orjson.dumps(from_scratch(result))
    return rendered


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_every_reason_of_the_verifier_table_renders_as_from_scratch(case: Case) -> None:
    result = verify_scanned(
        case.scanned(), trust=case.trust, statuses=STATUSES, now=NOW, max_status_age=600
    )
    assert result.reason is case.reason
    first = _same_bytes(result)
    assert _same_bytes(result) == first  # the second answer, from kept parts, is the same


def test_a_personal_type_a_field_without_label_and_no_expiry_render_as_from_scratch() -> None:
    personal = replace(EID, personal=True)
    view = CredentialView(personal, "1.2.156.x", {"name": "张三", "mystery": 7}, NOW, NOW, None)
    for reason in (Reason.VALID, Reason.REVOKED):
        result = VerificationResult(reason, "d", NOW, view, AMR, NOW - 5, None, "t", None)
        rendered = orjson.loads(_same_bytes(result))
        assert rendered["credential"]["fields"][1]["label"] == {"zh": "mystery", "en": "mystery"}
    assert orjson.loads(_same_bytes(result))["message"]["zh"] == MESSAGES[Reason.REVOKED][0]


def _answer(trust: TrustSnapshot) -> dict[str, Any]:
    result = verify_scanned(_token(), trust=trust, statuses=STATUSES, now=NOW)
    assert result.reason is Reason.VALID, result.detail
    out = verification_json(result)
    assert orjson.dumps(out) == orjson.dumps(from_scratch(result))
    return out


def test_a_new_trust_snapshot_renames_and_rechains_the_issuer_in_the_next_answer() -> None:
    before = _answer(TRUST)
    assert before["issuer"]["name"] == "杭州市市场监督管理局"
    moved = replace(
        AMR,
        name="杭州市市场监督管理局（新）",
        chain=(*AMR.chain, ChainLink("浙江省", "region", "330000")),
    )
    after = _answer(
        TrustSnapshot.build(issuers=[moved], keys=TRUST.keys, types=[BL, EID], as_of=NOW)
    )
    assert after["issuer"]["name"] == "杭州市市场监督管理局（新）"
    assert [link["role"] for link in after["issuer"]["chain"]] == ["agency", "city", "region"]
    assert _answer(TRUST)["issuer"] == before["issuer"]  # the old snapshot still answers as it did


def test_a_new_trust_snapshot_renames_the_type_and_its_labels_in_the_next_answer() -> None:
    assert _answer(TRUST)["credential"]["type_name"]["zh"] == "营业执照"
    renamed = replace(
        BL,
        name_zh="营业执照（电子）",
        labels=(FieldLabel("name", "企业名称", "Company name"), *BL.labels[1:]),
    )
    after = _answer(
        TrustSnapshot.build(issuers=[AMR], keys=TRUST.keys, types=[renamed, EID], as_of=NOW)
    )
    assert after["credential"]["type_name"] == {"zh": "营业执照（电子）", "en": "Business licence"}
    assert after["credential"]["fields"][0]["label"] == {"zh": "企业名称", "en": "Company name"}


def test_an_equal_issuer_built_anew_is_rendered_from_itself_not_matched_by_value() -> None:
    twin = replace(AMR)
    assert twin == AMR
    assert twin is not AMR
    result = verify_scanned(_token(), trust=TRUST, statuses=STATUSES, now=NOW)
    mine = verification_json(result)["issuer"]
    theirs = verification_json(result._replace(issuer=twin))["issuer"]
    assert mine == theirs
    assert mine is not theirs
