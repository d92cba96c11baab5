"""Business-licence subjects of distinct holders, for tests that issue several licences.

One holder may hold one live business licence (issue 12, ``gateway.holder_rule``): a test that
issues several needs a holder each. USCCs carry real GB 32100 check characters.
"""

from __future__ import annotations

import itertools
from typing import Any

from stdnum.cn import ric, uscc

from tests.issuers.samples import SAMPLE_SUBJECTS

_FRESH = itertools.count()


def licence_subject(n: int, **changes: Any) -> dict[str, Any]:
    """The sample business licence for holder number ``n`` (a USCC of its own)."""
    first17 = f"9133011{n:010d}"
    return {
        **SAMPLE_SUBJECTS["business-licence"],
        "uscc": first17 + uscc.calc_check_digit(first17),
        **changes,
    }


def fresh_licence(**changes: Any) -> dict[str, Any]:
    """The sample business licence for a holder no other call of this process used."""
    return licence_subject(next(_FRESH), **changes)


def fresh_uscc() -> str:
    """A USCC no other call of this process used (for ``licence_body(uscc=...)``)."""
    return str(fresh_licence()["uscc"])


def fresh_subject(ctype: str) -> dict[str, Any]:
    """The sample subject of ``ctype`` for a holder no other call of this process used."""
    if ctype == "business-licence":
        return fresh_licence()
    subject = dict(SAMPLE_SUBJECTS[ctype])
    if "id_number" in subject:  # 330106 19850615, a sequence ending odd (男), its check digit
        first17 = subject["id_number"][:17]
        while first17 == subject["id_number"][:17]:  # never the sample's own number
            n = next(_FRESH) % 500
            first17 = f"{subject['id_number'][:14]}{n % 100:02d}{'13579'[n // 100]}"
        subject["id_number"] = first17 + ric.calc_check_digit(first17 + "0")  # takes 18
    elif "uscc" in subject:
        subject["uscc"] = fresh_uscc()
    return subject


def fresh_body() -> dict[str, Any]:
    """A ``POST /api/v1/credentials`` body: the sample business licence of a fresh holder."""
    return {"type": "business-licence", "subject": fresh_licence()}
