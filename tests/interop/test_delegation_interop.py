"""A delegated copy (委托用证), checked by an implementation nobody here wrote: node
``@sd-jwt/sd-jwt-vc`` verifies the copy 杭州's gateway issued to an agent's wallet, the agent's
presentation of it with its KB-JWT, and the copy's status in 杭州's own status list token; it
reads the ``delegation`` claim in plain view. Once the company revokes the delegation, the same
library refuses the copy by its status: a verifier that knows nothing of delegation still sees
it revoked."""

from __future__ import annotations

from typing import Any

from tests.gateway import test_delegations as delegations
from tests.gateway.test_delegations import LICENCE, Office, _made
from tests.interop.conftest import NodeRunner
from trust.sdjwt import holder
from trust.sdjwt.issue import SdJwt

office = delegations.office  # 杭州, its market regulator, a bank counter, a company's wallet

AUDIENCE = "https://bank.example.cn/verifiers/vf-1"
NONCE = "n-0S6_WzA2Mj"


def _verify(node: NodeRunner, office: Office, copy: SdJwt, presentation: str) -> list[Any]:
    meta = office.client.get(f"/.well-known/jwt-vc-issuer/agencies/{office.amr.id}").json()
    uri = copy.unverified_payload()["status"]["status_list"]["uri"]
    listed = office.client.get(uri.removeprefix(office.base))
    assert listed.status_code == 200, listed.text
    jwks = meta["jwks"]["keys"]
    answer: list[Any] = node(
        "sdjwt_vc_verify",
        {
            "issuer_jwks": jwks,
            "status_list_token": listed.text.strip(),
            "status_jwks": jwks,
            "now": office.fed.clock(),
            "items": [
                {"token": copy.serialize(), "nonce": None},
                {"token": presentation, "nonce": NONCE},
            ],
        },
    )
    return answer


def test_node_sd_jwt_vc_verifies_a_delegated_copy_and_refuses_it_once_revoked(
    node: NodeRunner, office: Office
) -> None:
    made = _made(office)
    agent, copy = office.agent(made)
    presentation = holder.present(
        copy, holder.select(copy, ["name", "uscc"]), holder=agent, audience=AUDIENCE,
        nonce=NONCE, now=office.fed.clock(),
    )  # fmt: skip
    issued, presented = _verify(node, office, copy, presentation)
    assert issued["ok"], issued
    assert presented["ok"], presented
    assert presented["kb"]["aud"] == AUDIENCE
    delegation = issued["payload"]["delegation"]
    assert (delegation["id"], delegation["delegate"], delegation["purposes"]) == (
        made["id"], "张三", ["银行开户"],
    )  # fmt: skip
    assert delegation["by"]["name"] == LICENCE["name"]
    assert issued["payload"]["exp"] == delegation["until"]
    assert presented["payload"]["uscc"] == LICENCE["uscc"]

    assert office.revoke(made["id"]).status_code == 200
    issued, presented = _verify(node, office, copy, presentation)
    assert not issued["ok"], issued
    assert not presented["ok"], presented
    assert "status" in issued["message"].lower(), issued
