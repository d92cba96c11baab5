"""A hotel desk in 杭州, for tests that present a resident e-ID end to end with real processes:
``ecert serve`` for 长三角's trust anchor and for 杭州 (joined, approved for resident e-IDs) on
loopback; 杭州市公安局 issues a resident e-ID with a wallet offer; a hotel desk (西湖宾馆前台,
role ``hotel-desk``) is registered with ``ecert verifier add``; the CLI wallet receives the
e-ID (unless the test leaves the offer to another wallet). Both servers are stopped on exit.

The same scene with another :class:`Setting`: :data:`BANK`, a company's business licence issued
by 杭州市市场监督管理局 and a bank's business counter (delegated use, 委托用证)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.cli.helpers import Result, Served, ecert, ecert_many, free_port
from tests.cli.wallet_helpers import PASSPHRASE
from tests.issuers.samples import SAMPLE_SUBJECTS

PSB_USCC = "11330100002490365L"
AMR_USCC = "11330100MB1958123M"
FED = "federation"


@dataclass(frozen=True)
class Setting:
    """What is issued, by whom, and who asks for it, why."""

    type: str = "resident-eid"
    agency: tuple[str, str] = ("杭州市公安局", PSB_USCC)  # name, USCC
    desk: tuple[str, str] = ("西湖宾馆前台", "hotel-desk")  # name, role
    reason: str = "旅馆住宿登记"


HOTEL = Setting()
BANK = Setting(
    "business-licence",
    ("杭州市市场监督管理局", AMR_USCC),
    ("工商银行西湖支行对公柜台", "bank-counter"),
    "银行开户",
)


def ok(result: Result) -> Any:
    """The JSON a command printed, once it succeeded."""
    assert result.returncode == 0, result
    return result.json()


@dataclass(frozen=True)
class HotelDesk:
    yrd_url: str
    hz_url: str
    kid: str  # the anchor's federation key id, as a wallet pins it
    hz: list[str]  # --data-dir of 杭州
    wallet_dir: Path
    walleted: list[str]  # --wallet-dir and --passphrase of the CLI wallet
    agency: dict[str, Any]  # `ecert agency add --json` of 杭州市公安局
    issued: dict[str, Any]  # `ecert issue --wallet-offer --json` of the resident e-ID
    verifier: dict[str, Any]  # `ecert verifier add --json` of the desk (id, api_key …)
    setting: Setting = HOTEL

    @property
    def trusting(self) -> list[str]:
        """What ``ecert wallet present`` needs to trust the anchor."""
        return ["--trust-anchor", self.yrd_url, "--anchor-kid", self.kid]

    def receive_another(self, subject: dict[str, Any]) -> dict[str, Any]:
        """杭州市公安局 issues another resident e-ID (a renewal, say) that the CLI wallet
        receives; what the wallet kept (``wallet receive --json``)."""
        issued = ok(
            ecert("issue", *self.hz, "--agency", self.agency["id"], "--type", "resident-eid",
                  "--subject", json.dumps(subject, ensure_ascii=False), "--wallet-offer", "--json")
        )  # fmt: skip
        offer = issued["wallet_offer"]
        return dict(ok(ecert("wallet", "receive", offer["offer_uri"], "--pin", offer["tx_code"],
                             *self.walleted, "--json")))  # fmt: skip

    def kept(self) -> list[dict[str, Any]]:
        """The credentials the CLI wallet keeps (``wallet list --json``)."""
        return list(ok(ecert("wallet", "list", "--wallet-dir", str(self.wallet_dir), "--json")))

    def ask(self, fields: str) -> list[str]:
        """``ecert counter request`` of the desk for ``fields`` of the setting's type."""
        return ["counter", "request", *self.hz, "--verifier", self.verifier["id"],
                "--type", self.setting.type, "--fields", fields,
                "--reason", self.setting.reason, "--json"]  # fmt: skip

    def present(self, uri: str, *more: str, typed: str | None = None) -> Result:
        """``ecert wallet present`` trusting the anchor; ``typed`` answers its prompts."""
        return ecert("wallet", "present", uri, *self.walleted, *self.trusting, *more, typed=typed)


@contextmanager
def hotel_desk(
    tmp_path: Path, *, receive: bool = True, setting: Setting = HOTEL
) -> Iterator[HotelDesk]:
    yrd_port, hz_port = free_port(), free_port()
    while hz_port == yrd_port:
        hz_port = free_port()
    yrd_url, hz_url = f"http://127.0.0.1:{yrd_port}", f"http://127.0.0.1:{hz_port}"
    yrd, hz = ["--data-dir", str(tmp_path / "yrd")], ["--data-dir", str(tmp_path / "hz")]
    wallet_dir = tmp_path / "wallet"
    walleted = ["--wallet-dir", str(wallet_dir), "--passphrase", PASSPHRASE]
    for result in ecert_many(
        [
            ["init", *yrd, "--city-code", "310000", "--city-name", "上海市",
             "--public-url", yrd_url],
            ["init", *hz, "--city-code", "330100", "--city-name", "杭州市",
             "--public-url", hz_url],
            ["wallet", "init", *walleted, "--json"],
        ]
    ):  # fmt: skip
        assert result.returncode == 0, result
    anchor = ok(
        ecert(FED, "init-anchor", *yrd, "--region-id", "yrd", "--region-name", "长三角", "--json")
    )
    kid = anchor["kids"][0]
    with (
        Served(["serve", *yrd], tmp_path, port=yrd_port),
        Served(["serve", *hz], tmp_path, port=hz_port),
    ):
        ok(ecert(FED, "join", *hz, "--anchor", yrd_url, "--anchor-kid", kid, "--json"))
        approved, agency = ecert_many(
            [
                [FED, "approve", *yrd, "--entity", hz_url, "--types", setting.type, "--json"],
                ["agency", "add", *hz, "--name", setting.agency[0], "--uscc", setting.agency[1],
                 "--types", setting.type, "--json"],
            ]
        )  # fmt: skip
        ok(approved)
        agency_out = ok(agency)
        subject = json.dumps(SAMPLE_SUBJECTS[setting.type], ensure_ascii=False)
        issued, desk = ecert_many(
            [
                ["issue", *hz, "--agency", agency_out["id"], "--type", setting.type,
                 "--subject", subject, "--wallet-offer", "--json"],
                ["verifier", "add", *hz, "--name", setting.desk[0], "--role", setting.desk[1],
                 "--json"],
            ]
        )  # fmt: skip
        issued_out = ok(issued)
        if receive:
            offer = issued_out["wallet_offer"]
            ok(ecert("wallet", "receive", offer["offer_uri"], "--pin", offer["tx_code"],
                     *walleted, "--json"))  # fmt: skip
        yield HotelDesk(
            yrd_url=yrd_url,
            hz_url=hz_url,
            kid=kid,
            hz=hz,
            wallet_dir=wallet_dir,
            walleted=walleted,
            agency=agency_out,
            issued=issued_out,
            verifier=ok(desk),
            setting=setting,
        )
