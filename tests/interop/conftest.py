"""The interop suite: our artifacts checked by libraries nobody here wrote.

Python libraries (joserfc, jwcrypto, token-status-list, pygrindvakt, python-stdnum, sd-jwt) are
test dependencies in ``pyproject.toml``. Node libraries (jose, @sd-jwt/jwt-status-list,
@sd-jwt/sd-jwt-vc, @sd-jwt/core, @openid4vc/openid4vci, @openid4vc/openid4vp, dcql, jsQR) are
pinned in ``tests/interop/package-lock.json`` and installed by ``make interop-deps`` (``make
test`` runs it) into ``tests/interop/node_modules``. A node check runs one script from
``tests/interop/node/`` as a subprocess: JSON in on stdin, JSON out on stdout, bounded in time.

Without node or its packages the node checks skip and say how to enable them; under ``CI=true``
they fail instead, so CI cannot pass without having run them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from trust.encoding import b64url_encode
from trust.keys import SigningKey

HERE = Path(__file__).resolve().parent
NODE_MODULES = HERE / "node_modules"
SCRIPTS = HERE / "node"
NODE_TIMEOUT = 60  # seconds for one node script
HOW = "install Node.js 20 and npm, then run `make interop-deps` (make test does)"

NodeRunner = Callable[..., Any]


def _missing() -> str | None:
    if shutil.which("node") is None:
        return f"node not found: {HOW}"
    if not (NODE_MODULES / ".installed").exists():
        return f"the interop node packages are not installed in {NODE_MODULES.name}/: {HOW}"
    return None


@pytest.fixture(scope="session")
def node() -> NodeRunner:
    """``node(script, payload)`` runs ``tests/interop/node/<script>.mjs`` with ``payload`` as
    JSON on stdin and returns its JSON answer; a non-zero exit fails the test with stderr."""
    missing = _missing()
    if missing is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the node interop checks: {missing}")
        pytest.skip(missing)

    def run(script: str, payload: Any) -> Any:
        path = SCRIPTS / f"{script}.mjs"
        proc = subprocess.run(
            ["node", str(path)],
            input=json.dumps(payload),
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=NODE_TIMEOUT,
            cwd=HERE,
            check=False,
        )
        if proc.returncode != 0:
            raise AssertionError(f"node {path.name} exited {proc.returncode}:\n{proc.stderr}")
        return json.loads(proc.stdout)

    return run


def public_jwk(key: SigningKey) -> dict[str, str]:
    """The key's public JWK, its members only (no ``kid``, ``alg``, ``use``)."""
    return {k: v for k, v in key.public.jwk.items() if k in ("kty", "crv", "x", "y")}


def private_jwk(key: SigningKey) -> dict[str, str]:
    """A P-256 key as a private JWK, for a node script that signs with it."""
    assert isinstance(key.private, ec.EllipticCurvePrivateKey)
    d = key.private.private_numbers().private_value.to_bytes(32, "big")
    return {**public_jwk(key), "d": b64url_encode(d)}
