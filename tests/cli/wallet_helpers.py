"""Presenting from a CLI wallet's own files, outside the wallet: what a replay or a mixed-up
nonce needs (a genuine presentation the wallet itself would never send)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx

from trust.encoding import b64url_decode
from trust.keys import SigningKey
from trust.sdjwt import holder
from trust.sdjwt.core import split
from trust.sdjwt.disclosure import Disclosure
from trust.sdjwt.issue import SdJwt

PASSPHRASE = "wallet-passphrase-for-tests"


def request_claims(request_uri: str) -> dict[str, Any]:
    """The claims of the request object at ``request_uri`` (not verified: the test made it)."""
    token = httpx.get(request_uri, timeout=30).text
    return dict(json.loads(b64url_decode(token.split(".")[1])))


def present_outside_wallet(
    wallet_dir: Path, *, audience: str, nonce: str, fields: tuple[str, ...]
) -> str:
    """A presentation built from the wallet's one credential and its key, outside the wallet."""
    (record,) = [
        json.loads(p.read_text(encoding="utf-8"))
        for p in (wallet_dir / "credentials").glob("*.json")
    ]
    key = SigningKey.from_encrypted_pem((wallet_dir / "holder-key.pem").read_bytes(), PASSPHRASE)
    parts = split(record["credential"])
    sd_jwt = SdJwt(parts.issuer_jwt, tuple(Disclosure.parse(d) for d in parts.disclosures))
    return holder.present(
        sd_jwt, holder.select(sd_jwt, fields), holder=key, audience=audience, nonce=nonce,
        now=int(time.time()),
    )  # fmt: skip


def post_answer(response_uri: str, presentation: str, state: str) -> httpx.Response:
    """``direct_post`` of ``presentation`` as the DCQL answer to the request with ``state``."""
    form = {"vp_token": json.dumps({"credential": [presentation]}), "state": state}
    return httpx.post(response_uri, data=form, timeout=30)


def another_nonce_and_a_replay_are_refused(
    wallet_dir: Path, first_uri: str, second_uri: str, fields: tuple[str, ...]
) -> None:
    """A genuine presentation made for the second request is refused by the first (its nonce
    is another's), accepted once by the second, and refused when sent to it again."""
    b, c = request_claims(first_uri), request_claims(second_uri)
    made_for_c = present_outside_wallet(
        wallet_dir, audience=c["client_id"], nonce=c["nonce"], fields=fields
    )
    wrong_nonce = post_answer(b["response_uri"], made_for_c, b["state"])
    assert wrong_nonce.status_code == 400, wrong_nonce.text
    assert "nonce" in wrong_nonce.json()["message_en"]
    assert post_answer(c["response_uri"], made_for_c, c["state"]).status_code == 200
    replayed = post_answer(c["response_uri"], made_for_c, c["state"])
    assert replayed.status_code == 400, replayed.text
    assert replayed.json()["error"] == "invalid_request"
