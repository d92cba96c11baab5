"""Choosing among kept credentials (no sockets): which match a request, and how one of several
is chosen (``--credential``, a typed answer), never silently."""

from __future__ import annotations

import io
import time
from typing import Any

import pytest

from cli.wallet_choose import choose, describe, matching, status_hint
from trust.errors import DataError

NOW = 1_800_000_000
DAY = 86_400
VCT = "https://hz.example.cn/vct/resident-eid"
CLAIMS = {"name": "陈晓明", "id_number_masked": "330106********1233", "sex": "男"}


def _record(rid: str, *, issued: int, expires: int | None = NOW + 365 * DAY, **over: Any) -> Any:
    return {
        "id": rid,
        "type": "resident-eid",
        "vct": VCT,
        "issuer": "https://hz.example.cn/agencies/ag-psb",
        "issued_at": issued,
        "expires": expires,
        "claims": CLAIMS,
        **over,
    }


OLD = _record("0ld0ld0ld0ld", issued=NOW - 400 * DAY, expires=NOW - 35 * DAY)
RENEWED = _record("new0new0new0", issued=NOW - 30 * DAY)
LICENCE = _record("dl0dl0dl0dl0", issued=NOW - DAY, type="driving-licence", vct="x/vct/dl")
FIELDS = ("name", "id_number_masked")


def test_the_credentials_of_the_type_asked_that_hold_the_fields_match_newest_first() -> None:
    assert matching([OLD, LICENCE, RENEWED], VCT, FIELDS) == [RENEWED, OLD]


def test_a_credential_of_another_issuer_url_matches_by_its_type_path() -> None:
    elsewhere = _record("e1e1e1e1e1e1", issued=NOW, vct="https://sz.example.cn/vct/resident-eid")
    assert matching([elsewhere], VCT, FIELDS) == [elsewhere]


def test_a_credential_received_before_its_type_had_the_field_does_not_match() -> None:
    before = _record("b4b4b4b4b4b4", issued=NOW - DAY, claims={"name": "陈晓明", "sex": "男"})
    assert matching([before, RENEWED], VCT, FIELDS) == [RENEWED]
    with pytest.raises(DataError, match=r"holds \['name', 'id_number_masked'\].*b4b4b4b4b4b4"):
        matching([before], VCT, FIELDS)


def test_no_credential_of_the_type_is_refused() -> None:
    with pytest.raises(DataError, match="no credential of type 'resident-eid'"):
        matching([LICENCE], VCT, FIELDS)


def test_one_match_is_presented_as_before() -> None:
    def never() -> str:
        raise AssertionError("asked although one credential matches")

    assert choose([RENEWED], credential=None, yes=True, now=NOW, ask=never) is RENEWED
    assert choose([RENEWED], credential=None, yes=False, now=NOW, ask=never) is RENEWED


def test_several_with_yes_and_no_credential_are_refused_listing_the_ids() -> None:
    with pytest.raises(DataError) as refused:
        choose([RENEWED, OLD], credential=None, yes=True, now=NOW)
    text = str(refused.value)
    assert "--credential" in text
    assert "钱包里有 2 张证照符合请求" in text
    assert RENEWED["id"] in text
    assert OLD["id"] in text


@pytest.mark.parametrize("yes", [True, False])
def test_credential_chooses_among_several(yes: bool) -> None:
    chosen = choose([RENEWED, OLD], credential=OLD["id"], yes=yes, now=NOW)
    assert chosen is OLD


def test_credential_that_does_not_match_is_refused_naming_those_that_do() -> None:
    with pytest.raises(DataError, match=r"expected one of \['new0new0new0'\].*dl0dl0dl0dl0"):
        choose([RENEWED], credential=LICENCE["id"], yes=True, now=NOW)


@pytest.mark.parametrize(
    ("answer", "chosen"),
    [("1", RENEWED), ("2", OLD), (" 0ld0ld0ld0ld ", OLD), ("new0new0new0", RENEWED)],
    ids=["first", "second", "an-id-with-spaces", "an-id"],
)
def test_the_holder_answers_with_a_number_or_an_id(
    answer: str, chosen: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert choose([RENEWED, OLD], credential=None, yes=False, now=NOW, ask=lambda: answer) is chosen
    listed = capsys.readouterr().out
    assert f"[1] {describe(RENEWED, now=NOW)}" in listed
    assert f"[2] {describe(OLD, now=NOW)}" in listed


@pytest.mark.parametrize("answer", ["0", "3", "", "x" * 500])
def test_an_answer_that_names_none_of_them_presents_nothing(answer: str) -> None:
    with pytest.raises(DataError, match=r"未出示.*expected 1 to 2 or one of"):
        choose([RENEWED, OLD], credential=None, yes=False, now=NOW, ask=lambda: answer)


def test_with_nothing_to_read_an_answer_from_nothing_is_chosen(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # as under `ecert … < /dev/null`
    with pytest.raises(DataError, match="no credential chosen"):
        choose([RENEWED, OLD], credential=None, yes=False, now=NOW)


def test_the_prompt_reads_the_holders_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("2\n"))
    assert choose([RENEWED, OLD], credential=None, yes=False, now=NOW, show=False) is OLD


def test_each_line_says_issuer_id_issue_date_and_a_status_hint() -> None:
    line = describe(OLD, now=NOW)
    day = time.strftime("%Y-%m-%d", time.localtime(OLD["issued_at"]))
    assert line.startswith("0ld0ld0ld0ld  resident-eid  签发方 issuer https://hz.example.cn/")
    assert f"签发于 issued {day}" in line
    assert "已过期 · expired" in line
    assert "有效期至" in status_hint(RENEWED, now=NOW)
    assert status_hint(_record("x", issued=NOW, expires=None), now=NOW) == "长期有效 · no expiry"


REFUSED_EN = "Certificate has been revoked (REVOKED): status list … " + "x" * 200


def _presented(record: dict[str, Any], accepted: bool) -> dict[str, Any]:
    """A wallet history entry, as ``ecert wallet present`` appends it."""
    answer = {"status": 200, "error": None, "message": None, "message_en": None}
    if not accepted:
        answer = {"status": 400, "error": "access_denied", "message": "证照已被撤销（REVOKED）",
                  "message_en": REFUSED_EN}  # fmt: skip
    return {"credential": record["id"], "accepted": accepted, "answer": answer}


def test_the_hint_names_a_counters_refusal_the_last_time_it_was_presented(
    capsys: pytest.CaptureFixture[str],
) -> None:
    history = [_presented(RENEWED, False), _presented(RENEWED, True), _presented(OLD, False)]
    choose([RENEWED, OLD], credential=None, yes=False, now=NOW, ask=lambda: "1", history=history)
    renewed_line, old_line = capsys.readouterr().out.splitlines()[1:]
    assert "上次出示被拒" not in renewed_line  # its last presentation was accepted
    assert old_line.endswith(
        "；上次出示被拒：证照已被撤销（REVOKED） · last presented: refused, " + REFUSED_EN[:80]
    )
