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
