"""``ecert verify``.

Exit codes: 0 valid, 1 not valid, 2 usage error or unreadable input, 3 gateway unreachable.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from cli.common import DEFAULT_DATA_DIR, DataDir, JsonOut, emit_json, gateway_at, say
from trust.errors import DataError

# Verifying at a gateway (--gateway) needs only httpx: what verifies locally or offline, and
# reads images, is imported where it is used, so that path starts in a fraction of the time.

EXIT_VALID, EXIT_INVALID, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3
MAX_IMAGE = 10 * 1024 * 1024
TIMEOUT = 15.0


class UsageProblem(DataError):
    """Bad arguments or unreadable input: exit 2."""


class Unreachable(DataError):
    """The gateway could not be asked: exit 3."""


def _remote(gateway: str, qr_text: str | None, image: bytes | None, name: str) -> dict[str, Any]:
    base = gateway.rstrip("/")
    try:
        with httpx.Client(timeout=TIMEOUT) as client:
            if qr_text is not None:
                response = client.post(f"{base}/api/v1/verify", json={"qr": qr_text})
            else:
                assert image is not None
                response = client.post(f"{base}/api/v1/verify/image", files={"file": (name, image)})
    except httpx.HTTPError as exc:
        raise Unreachable(f"could not reach {base}: {exc}") from exc
    if response.status_code == 200:
        body: dict[str, Any] = response.json()
        return body
    try:
        detail = response.json().get("detail")
    except ValueError:
        detail = response.text[:200]
    if response.status_code in (400, 413, 422):
        message = detail.get("message_en") if isinstance(detail, dict) else detail
        raise UsageProblem(f"the gateway refused the input ({response.status_code}): {message}")
    raise Unreachable(f"{base} answered {response.status_code}: {detail}")


def _local(data_dir: Path, qr_text: str) -> dict[str, Any]:
    from verify.result_json import verification_json
    from verify.verifier import verify_scanned

    with gateway_at(data_dir) as gw:
        state = gw.reload()
        result = verify_scanned(qr_text, trust=state.trust, statuses=state.statuses, now=gw.clock())
    return verification_json(result)


def _show(result: dict[str, Any]) -> None:
    mark = "✓" if result["valid"] else "✗"
    say(f"{mark} {result['message']['zh']} · {result['message']['en']} [{result['reason']}]")
    cred = result.get("credential")
    if cred:
        say(
            f"  {cred['type_name']['zh']} {cred['type_name']['en']}  {cred.get('identifier') or ''}"
        )
        for f in cred["fields"]:
            say(f"  {f['label']['zh']} {f['label']['en']}: {f['value']}")
        say(f"  有效期 valid: {cred['valid_from']} → {cred['valid_until'] or '长期 no expiry'}")
    issuer = result.get("issuer")
    if issuer:
        say("  签发 issuer: " + " → ".join(c["name"] for c in issuer["chain"]))


UNDESCRIBED_TYPES = (
    "提示：此信任列表未附证照类型说明（由旧版网关签发），其证照将答复不支持；"
    "请用新版网关重新导出 · "
    "note: this trust list describes no credential types (a gateway signed it before lists did), "
    "so its credentials answer UNSUPPORTED: export the bundle again from an up-to-date gateway"
)


def _offline(trust_file: Path, root_file: Path | None, qr_text: str, *, now: int) -> dict[str, Any]:
    """Verify from a trust bundle alone: no network, no data directory, and nothing beyond
    trust/ and verify/ (no issuing code, no database, no pydantic: a kiosk ships without them).
    What a credential type and its fields are called comes from the signed trust list."""
    from trust.trustlist.bundle import load_bundle
    from trust.trustlist.errors import TrustListExpired
    from trust.trustlist.root import SignedRoot, load_initial_root
    from verify.reasons import Reason
    from verify.result import VerificationResult
    from verify.result_json import verification_json
    from verify.verifier import verify_scanned

    try:
        data = trust_file.read_bytes()
        root_bytes = root_file.read_bytes() if root_file is not None else None
    except OSError as exc:
        raise UsageProblem(f"cannot read {exc.filename}: {exc.strerror}") from exc
    try:
        pinned = load_initial_root(SignedRoot.from_bytes(root_bytes)) if root_bytes else None
        loaded = load_bundle(data, pinned_root=pinned, now=now, trust_on_first_use=pinned is None)
    except TrustListExpired as exc:
        stale = VerificationResult(reason=Reason.TRUST_LIST_STALE, detail=str(exc), checked_at=now)
        return verification_json(stale)
    except DataError as exc:
        raise UsageProblem(f"unusable trust file {trust_file}: {exc}") from exc
    if loaded.trust_list.types is None:
        say(UNDESCRIBED_TYPES, err=True)
    result = verify_scanned(qr_text, trust=loaded.snapshot, statuses=loaded.statuses, now=now)
    return verification_json(result)


def verify(
    qr_text: Annotated[
        str | None, typer.Option("--qr-text", help="scanned QR text or token")
    ] = None,
    image: Annotated[
        Path | None, typer.Option("--image", help="photo or screenshot of a QR")
    ] = None,
    gateway: Annotated[
        str | None, typer.Option("--gateway", help="verify at this gateway URL (else locally)")
    ] = None,
    offline: Annotated[
        bool, typer.Option("--offline", help="use only --trust-file: no network, no data dir")
    ] = False,
    trust_file: Annotated[
        Path | None, typer.Option("--trust-file", help="bundle from `ecert trust export`")
    ] = None,
    root: Annotated[
        Path | None, typer.Option("--root", help="pinned root metadata (else trust first use)")
    ] = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: JsonOut = False,
) -> None:
    """Verify a certificate's QR. 核验证照"""
    try:
        if (qr_text is None) == (image is None):
            raise UsageProblem("give exactly one of --qr-text or --image")
        data = None
        if image is not None:
            try:
                data = image.read_bytes()
            except OSError as exc:
                raise UsageProblem(f"cannot read {image}: {exc.strerror}") from exc
            if len(data) > MAX_IMAGE:
                raise UsageProblem(f"{image} is over {MAX_IMAGE // 1048576} MiB")
        if offline and (trust_file is None or gateway is not None):
            raise UsageProblem("--offline needs --trust-file and no --gateway")
        if gateway is not None:
            result = _remote(gateway, qr_text, data, image.name if image else "qr.png")
        else:
            if data is not None:
                from verify.scan import decode_image

                try:
                    texts = decode_image(data)
                except DataError as exc:
                    raise UsageProblem(f"cannot read a QR code from {image}: {exc}") from exc
                if not texts:
                    raise UsageProblem(f"no QR code found in {image}")
                qr_text = texts[0]
            assert qr_text is not None
            if offline and trust_file is not None:
                result = _offline(trust_file, root, qr_text, now=int(time.time()))
            else:
                result = _local(data_dir, qr_text)
    except UsageProblem as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from exc
    except Unreachable as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_UNREACHABLE) from exc
    if as_json:
        emit_json(result)
    else:
        _show(result)
    raise typer.Exit(EXIT_VALID if result["valid"] else EXIT_INVALID)
