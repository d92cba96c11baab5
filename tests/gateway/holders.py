"""Business-licence subjects of distinct holders, for tests that issue several licences.

One holder may hold one live business licence (issue 12, ``gateway.holder_rule``): a test that
issues several needs a holder each. USCCs carry real GB 32100 check characters.
"""

from __future__ import annotations

import itertools
from typing import Any

from stdnum.cn import uscc

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
