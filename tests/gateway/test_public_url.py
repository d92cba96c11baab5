"""The public URL: checked where it enters, the database's one used for QR codes and for every
status list made after it is set (issue 8, "one city")."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway import federation, issuance, publicurl
from gateway.core import Gateway
from gateway.errors import Conflict
from gateway.settings import SettingsError, load_settings
from gateway.state import mark_changed
from tests.conftest import Agency
from tests.gateway.holders import fresh_licence
from trust.errors import DataError

NEW_URL = "https://zwfw.hangzhou.gov.cn/ecert"


def _licence(gw: Gateway, agency: Agency) -> issuance.CredentialRow:
    row, _ = issuance.issue(
        gw,
        agency_id=agency.id,
        request=issuance.IssueRequest("business-licence", fresh_licence()),  # a holder each
    )
    return row


def _list_uri(gw: Gateway, row: issuance.CredentialRow) -> str:
    with gw.sessions() as session:
        lst = session.get(issuance.StatusListRow, row.status_list_id)
        assert lst is not None
        return lst.uri


def test_status_lists_made_after_the_url_changes_use_it(gw: Gateway, amr: Agency) -> None:
    before = _licence(gw, amr)
    assert _list_uri(gw, before).startswith("https://ecert.hangzhou.gov.cn/statuslists/")
    # The city's URL changes (before: the next `ecert serve --public-url` wrote it here).
    with gw.transaction() as session:
        gw.city(session).public_url = NEW_URL
        change = mark_changed(session)
    gw.live.changed(change)
    after = _licence(gw, amr)
    assert _list_uri(gw, after).startswith(f"{NEW_URL}/statuslists/")
    assert issuance.qr_text_for(gw, after).startswith(f"{NEW_URL}/v#")
    assert _list_uri(gw, before).startswith("https://ecert.hangzhou.gov.cn/")  # as it was signed


def test_set_public_url_is_checked_recorded_and_seen_by_the_state(gw: Gateway, amr: Agency) -> None:
    city = publicurl.set_public_url(gw, f"{NEW_URL}/", actor="cli:admin")
    assert city.public_url == NEW_URL
    assert gw.public_url == NEW_URL
    with pytest.raises(DataError, match="https:// or http://"):
        publicurl.set_public_url(gw, "ecert.hangzhou.gov.cn", actor="cli:admin")
    assert gw.public_url == NEW_URL


def test_a_federated_gateway_keeps_the_url_its_peers_know(gw: Gateway) -> None:
    federation.init(gw, role=federation.ANCHOR, region_id="yrd", region_name="长三角", actor="t")
    with pytest.raises(Conflict, match="entity id"):
        publicurl.set_public_url(gw, NEW_URL, actor="cli:admin")
    assert gw.public_url == "https://ecert.hangzhou.gov.cn"


def test_a_configured_url_must_be_the_citys(gw: Gateway) -> None:
    assert publicurl.agree(gw, None) == "https://ecert.hangzhou.gov.cn"
    assert publicurl.agree(gw, "https://ecert.hangzhou.gov.cn/") == "https://ecert.hangzhou.gov.cn"
    with pytest.raises(Conflict) as refused:
        publicurl.agree(gw, NEW_URL)
    assert "ecert city set-url" in str(refused.value)
    assert NEW_URL in str(refused.value)
    assert "公共网址" in str(refused.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("ftp://ecert.hangzhou.gov.cn", "https:// or http://"),
        ("https://", "a host"),
        ("https://ecert.hangzhou.gov.cn/?city=hz", "without a query or fragment"),
        ("https://ecert.hangzhou.gov.cn/#v", "without a query or fragment"),
        ("https://ecert.hangzhou gov.cn", "spaces"),
        ("https://user@ecert.hangzhou.gov.cn", "user name"),
    ],
)
def test_settings_refuse_an_unusable_public_url(tmp_path: Path, value: str, expected: str) -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings(data_dir=tmp_path, public_url=value)
    message = str(refused.value)
    assert expected in message, message
    assert repr(value) in message, message
    assert "公共网址" in message
    assert "Value error" not in message


def test_settings_keep_a_usable_public_url_without_its_trailing_slash(tmp_path: Path) -> None:
    assert load_settings(data_dir=tmp_path, public_url=f"{NEW_URL}/").public_url == NEW_URL
