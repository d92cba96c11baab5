"""``ecert verify``.

Exit codes: 0 valid, 1 not valid, 2 usage error or unreadable input, 3 gateway unreachable.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from cli.common import DEFAULT_DATA_DIR, DataDir, JsonOut, gateway_at
from cli.kiosk import (
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    UsageProblem,
    answer,
    first_code,
    read_image,
    verify_offline,
)
from trust.errors import DataError

# Verifying at a gateway (--gateway) needs only httpx: what verifies locally or offline, and
# reads images, is imported where it is used, so that path starts in a fraction of the time.

TIMEOUT = 15.0


class Unreachable(DataError):
    """The gateway could not be asked: exit 3. The message is Chinese, then English."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(f"{zh} · {en}")


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
        raise Unreachable(f"无法连接 {base}：{exc}", f"could not reach {base}: {exc}") from exc
    if response.status_code == 200:
        body: dict[str, Any] = response.json()
        return body
    try:
        detail = response.json().get("detail")
    except ValueError:
        detail = response.text[:200]
    if response.status_code in (400, 413, 422):
        zh, en = (
            (detail.get("message"), detail.get("message_en"))
            if isinstance(detail, dict)
            else (detail, detail)
        )
        code = response.status_code
        raise UsageProblem(
            f"网关拒绝了输入（{code}）：{zh}", f"the gateway refused the input ({code}): {en}"
        )
    raise Unreachable(
        f"{base} 答复 {response.status_code}：{detail}",
        f"{base} answered {response.status_code}: {detail}",
    )


def _local(data_dir: Path, qr_text: str) -> dict[str, Any]:
    from verify.result_json import verification_json
    from verify.verifier import verify_scanned

    with gateway_at(data_dir) as gw:
        state = gw.reload()
        result = verify_scanned(
            qr_text, trust=state.trust, statuses=state.statuses, now=gw.clock(),
            max_status_age=gw.settings.status_max_age,
        )  # fmt: skip
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
            raise UsageProblem(
                "请只给出 --qr-text 或 --image 之一", "give exactly one of --qr-text or --image"
            )
        if offline and (trust_file is None or gateway is not None):
            raise UsageProblem(
                "--offline 需要 --trust-file，且不能与 --gateway 同用",
                "--offline needs --trust-file and no --gateway",
            )
        data = read_image(image) if image is not None else None
        if gateway is not None:
            result = _remote(gateway, qr_text, data, image.name if image else "qr.png")
        else:
            if data is not None and image is not None:
                qr_text = first_code(data, image)
            assert qr_text is not None
            if offline and trust_file is not None:
                result = verify_offline(trust_file, root, qr_text, now=int(time.time()))
            else:
                result = _local(data_dir, qr_text)
    except UsageProblem as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from exc
    except Unreachable as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_UNREACHABLE) from exc
    raise typer.Exit(answer(result, as_json=as_json))
