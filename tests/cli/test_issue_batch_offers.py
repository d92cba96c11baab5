"""``ecert issue-batch --wallet-offers FILE`` (issue 9): one wallet offer and PIN for each
credential of the register that has none yet, written to a new owner-only file; a re-run makes
offers only for what has none, and every offer written redeems with its PIN."""

from __future__ import annotations

import csv
import stat
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from cli.common import gateway_at
from gateway import wallet
from tests.cli.conftest import City
from tests.cli.helpers import ecert
from tests.cli.test_issue_batch import batch, register, summary, write_csv
from trust.oid4vci import PRE_AUTHORIZED_GRANT


def _offers(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_a_register_gets_one_offer_per_credential_in_an_owner_only_file(
    city: City, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "register.csv", register(5, series="C"))
    offers = tmp_path / "offers.csv"
    first = summary(ecert(*batch(city, path), "--wallet-offers", str(offers)))
    assert (first["issued"], first["offers"]) == (5, 5)
    assert stat.S_IMODE(offers.stat().st_mode) == 0o600
    written = _offers(offers)
    stored = city.query(
        "SELECT id FROM credentials WHERE batch_ref LIKE ? ORDER BY id", f"{path.name}:%"
    )
    assert sorted(o["credential_id"] for o in written) == [row[0] for row in stored]
    assert all(o["offer_uri"].startswith("openid-credential-offer://?") for o in written)
    assert all(len(o["tx_code"]) == 6 and o["tx_code"].isdigit() for o in written)
    assert len({o["tx_code"] + o["offer_uri"] for o in written}) == 5

    # Each offer written redeems with its own PIN (and only with it).
    one = written[2]
    offer_url = parse_qs(urlsplit(one["offer_uri"]).query)["credential_offer_uri"][0]
    code = offer_url.rsplit("/", 1)[1]
    with gateway_at(city.data_dir) as gw:
        granted = wallet.token(
            gw,
            {"grant_type": PRE_AUTHORIZED_GRANT, "pre-authorized_code": code,
             "tx_code": one["tx_code"]},
        )  # fmt: skip
    assert granted["access_token"]


def test_a_rerun_offers_only_what_has_no_offer_and_never_overwrites_the_file(
    city: City, tmp_path: Path
) -> None:
    rows = register(3, series="D")
    path = write_csv(tmp_path / "register.csv", rows)
    offers = tmp_path / "offers.csv"
    assert summary(ecert(*batch(city, path), "--wallet-offers", str(offers)))["offers"] == 3

    refused = ecert(*batch(city, path), "--wallet-offers", str(offers))
    line = refused.one_error_line()
    assert "请换一个新文件名" in line
    assert "must name a new file" in line
    assert len(_offers(offers)) == 3  # untouched

    more = write_csv(tmp_path / "register.csv", [*rows, *register(2, series="D", start=3)])
    again = summary(ecert(*batch(city, more), "--wallet-offers", str(tmp_path / "more.csv")))
    assert (again["issued"], again["skipped"], again["offers"]) == (2, 3, 2)
    assert len(_offers(tmp_path / "more.csv")) == 2
