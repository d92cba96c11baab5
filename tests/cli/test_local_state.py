"""Changes made with the CLI on a data directory, checked by the local ``ecert verify``.

``ecert suspend|reinstate|revoke`` and ``ecert key rotate|compromise`` each act on their own
copy of the session's city; local verification (no ``--gateway``) reads the trust and status
snapshot from that directory, so every change must show in the very next ``ecert verify``.

Each scenario is a strictly ordered chain of ``ecert`` runs; the three chains are independent,
so the module runs them side by side (each ``ecert`` start is ~2 s of imports) and each test
then checks its chain's recorded results, in order.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import LICENCE, City, CityTemplate, copy_city
from tests.cli.helpers import Result, ecert, ecert_many, outcome, side_by_side

pytestmark = pytest.mark.slow


def verify(city: City, text: str) -> list[str]:
    return ["verify", *city.args(), "--qr-text", text, "--json"]


def json_document(result: Result) -> Any:
    """The JSON object on stdout: with --json, stdout holds nothing else."""
    assert result.returncode == 0, result
    return json.loads(result.stdout)


# --- the chains -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Lifecycle:
    city: City
    cwd: Path  # where the ECERT_DATA_DIR-only command ran
    suspended: Result
    after_suspend: Result
    reinstated: Result
    after_reinstate: Result
    revoked: Result
    after_revoke: Result
    reinstate_revoked: Result


def status_lifecycle(city: City, cwd: Path) -> Lifecycle:
    cid = city.credential["id"]
    check = verify(city, city.credential["qr_text"])
    # ECERT_DATA_DIR instead of --data-dir, run elsewhere so a default ./.ecert would show.
    suspended = ecert(
        "suspend", cid, "--reason", "涉嫌虚假登记，立案调查", "--json",
        env={"ECERT_DATA_DIR": str(city.data_dir)}, cwd=cwd,
    )  # fmt: skip
    after_suspend = ecert(*check)
    reinstated = ecert("reinstate", cid, *city.args(), "--reason", "调查结束", "--json")
    after_reinstate = ecert(*check)
    revoked = ecert("revoke", cid, *city.args(), "--reason", "企业申请注销")
    after_revoke, reinstate_revoked = ecert_many(
        [check, ["reinstate", cid, *city.args(), "--reason", "误操作"]]
    )
    return Lifecycle(
        city, cwd, suspended, after_suspend, reinstated, after_reinstate, revoked,
        after_revoke, reinstate_revoked,
    )  # fmt: skip


@dataclass(frozen=True)
class Rotation:
    city: City
    old_kid: str
    rotated: Result
    after_rotate: Result
    compromised: Result
    after_compromise: Result
    listed: Result


def rotate_then_compromise(city: City) -> Rotation:
    old_kid = city.kid
    check = verify(city, city.credential["qr_text"])
    rotated = ecert("key", "rotate", "--agency", city.agency_id, *city.args(), "--json")
    after_rotate = ecert(*check)
    compromised = ecert(
        "key", "compromise", "--kid", old_kid, "--reason", "签名服务器被入侵", "--no-reissue",
        *city.args(), "--json",
    )  # fmt: skip
    after_compromise, listed = ecert_many([check, ["key", "list", *city.args(), "--json"]])
    return Rotation(city, old_kid, rotated, after_rotate, compromised, after_compromise, listed)


@dataclass(frozen=True)
class Reissue:
    city: City
    kid: str
    compromised: Result
    fresh_token: str
    old_answer: Result
    new_answer: Result


def compromise_and_reissue(city: City) -> Reissue:
    kid = city.kid
    compromised = ecert(
        "key", "compromise", "--kid", kid, "--reason", "私钥泄露", "--reissue",
        *city.args(), "--json",
    )  # fmt: skip
    (fresh,) = json_document(compromised)["reissued"]
    ((token,),) = city.query("SELECT token FROM credentials WHERE id = ?", fresh["id"])
    old_answer, new_answer = ecert_many(
        [verify(city, city.credential["qr_text"]), verify(city, token)]
    )
    return Reissue(city, kid, compromised, token, old_answer, new_answer)


@pytest.fixture(scope="module")
def chains(
    city_template: CityTemplate, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Future[Any]]]:
    def fresh(name: str) -> City:
        return copy_city(city_template, tmp_path_factory.mktemp(name) / "data")

    lifecycle, rotation, reissue = fresh("lifecycle"), fresh("rotation"), fresh("reissue")
    cwd = tmp_path_factory.mktemp("cwd")
    with side_by_side(
        {
            "lifecycle": lambda: status_lifecycle(lifecycle, cwd),
            "rotation": lambda: rotate_then_compromise(rotation),
            "reissue": lambda: compromise_and_reissue(reissue),
        }
    ) as futures:
        yield futures


# --- ecert issue ----------------------------------------------------------------------------


def test_issue_json_returns_the_credential_and_its_qr(city_template: CityTemplate) -> None:
    issued = city_template.issue
    assert issued.returncode == 0, issued
    out = issued.json()
    agency = city_template.agency_add.json()
    assert out["type"] == "business-licence"
    assert out["status"] == "valid"
    assert out["status_code"] == "01"
    # GB/T 36904 证照标识: OID prefix, type code, issuer's USCC, 流水号, 版本号, check character.
    assert out["identifier"].startswith("1.2.156.3005.2.11100000000013338W001.")
    assert f".{agency['uscc']}." in out["identifier"]
    assert ".001." in out["identifier"]
    header, payload, signature = (
        json.loads(base64.urlsafe_b64decode(part + "==")) if n < 2 else part
        for n, part in enumerate(out["token"].split("."))
    )
    assert (header["typ"], header["alg"]) == ("ecert+jwt", "ES256")
    assert payload["t"] == "BL"
    assert payload["c"] == {"name": LICENCE["name"], "uscc": LICENCE["uscc"]}  # public fields
    assert payload["status"]["status_list"]["uri"].startswith("http://127.0.0.1:8000/statuslists/")
    assert signature
    # The QR text is the init default public URL, then the token two digits per character.
    prefix, digits = out["qr_text"].split("#", 1)
    assert prefix == "http://127.0.0.1:8000/v"
    assert digits.isdigit()
    assert len(digits) == 2 * len(out["token"])
    assert out["valid_until"] is None  # a business licence is 长期


# --- ecert suspend | reinstate | revoke -----------------------------------------------------


def test_status_changes_show_in_local_verify_and_revoke_is_final(
    chains: dict[str, Future[Any]],
) -> None:
    run: Lifecycle = outcome(chains, "lifecycle")

    assert run.suspended.returncode == 0, run.suspended
    assert run.suspended.json()["status_code"] == "02"
    assert list(run.cwd.iterdir()) == []  # ECERT_DATA_DIR was used, not ./.ecert
    assert run.after_suspend.returncode == 1, run.after_suspend
    assert run.after_suspend.json()["valid"] is False
    assert run.after_suspend.json()["reason"] == "SUSPENDED"

    assert run.reinstated.returncode == 0, run.reinstated
    assert run.reinstated.json()["status_code"] == "01"
    assert run.after_reinstate.returncode == 0, run.after_reinstate
    assert run.after_reinstate.json()["valid"] is True
    assert run.after_reinstate.json()["reason"] == "VALID"
    fields = run.after_reinstate.json()["credential"]["fields"]
    assert {f["name"]: f["value"] for f in fields} == {
        "name": LICENCE["name"],
        "uscc": LICENCE["uscc"],
    }

    assert run.revoked.returncode == 0, run.revoked
    assert "03" in run.revoked.stdout
    assert run.after_revoke.returncode == 1, run.after_revoke
    assert run.after_revoke.json()["reason"] == "REVOKED"
    assert "final" in run.reinstate_revoked.one_error_line()
    assert run.city.query("SELECT status_code FROM credentials") == [("03",)]


# --- ecert key list | rotate | compromise ---------------------------------------------------


def test_rotate_then_compromise_without_reissue(chains: dict[str, Future[Any]]) -> None:
    run: Rotation = outcome(chains, "rotation")
    city, old = run.city, run.old_kid

    assert run.rotated.returncode == 0, run.rotated
    new = run.rotated.json()["kid"]
    assert new != old
    assert run.rotated.json() == {"kid": new, "agency_id": city.agency_id, "alg": "ES256"}
    assert run.after_rotate.returncode == 0, run.after_rotate
    assert run.after_rotate.json()["reason"] == "VALID"  # a retired key verifies what it signed

    out = json_document(run.compromised)
    assert out["kid"] == old
    assert out["compromised_at"]
    assert out["affected"] == [city.credential["id"]]
    assert out["reissued"] == []
    assert run.after_compromise.returncode == 0, run.after_compromise
    assert run.after_compromise.json()["reason"] == "VALID"  # the issuance record confirms it

    assert run.listed.returncode == 0, run.listed
    assert {k["kid"]: k["state"] for k in run.listed.json()} == {old: "compromised", new: "active"}
    assert {(k["agency_id"], k["alg"]) for k in run.listed.json()} == {(city.agency_id, "ES256")}


def test_compromise_with_reissue_supersedes_the_old_certificate(
    chains: dict[str, Future[Any]],
) -> None:
    run: Reissue = outcome(chains, "reissue")
    old_id, old_identifier = run.city.credential["id"], run.city.credential["identifier"]

    out = json_document(run.compromised)
    assert out["kid"] == run.kid
    assert out["affected"] == [old_id]
    (fresh,) = out["reissued"]
    assert fresh["supersedes"] == old_id
    assert fresh["id"] != old_id
    # Same 流水号, next 版本号 (the last part is the check character).
    serial, version = old_identifier.split(".")[-3:-1]
    assert fresh["identifier"].split(".")[-3:-1] == [serial, f"{int(version) + 1:03d}"]

    assert run.old_answer.returncode == 1, run.old_answer
    assert run.old_answer.json()["reason"] == "REVOKED"
    assert run.new_answer.returncode == 0, run.new_answer
    assert run.new_answer.json()["reason"] == "VALID"
    assert run.new_answer.json()["credential"]["identifier"] == fresh["identifier"]


def test_compromise_json_stdout_is_only_json(chains: dict[str, Future[Any]]) -> None:
    run: Reissue = outcome(chains, "reissue")
    assert run.compromised.json()["kid"] == run.kid
