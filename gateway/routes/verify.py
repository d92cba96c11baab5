"""Counter and kiosk verification: scanned text or a photo of the QR code."""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
from typing import Annotated, Any

import anyio.from_thread
from fastapi import APIRouter, File, Request, UploadFile

from gateway import observe, verify_extras
from gateway.confirmations import Confirmer
from gateway.core import Gateway
from gateway.deps import ConfirmerDep, GatewayDep
from gateway.errors import Unprocessable
from gateway.freshness import verifier_bound
from gateway.schemas import VerifyBody, verification_json
from verify.reasons import Reason
from verify.result import VerificationResult
from verify.scan import decode_image
from verify.verifier import verify_scanned

router = APIRouter(prefix="/api/v1/verify", tags=["verify 核验"])
MAX_IMAGE_BYTES = 10 * 1024 * 1024
# Decoding is CPU-bound: more at once than cores only adds memory (an image within the pixel
# bound can take ~450 MB while decoded).
IMAGE_DECODES = threading.BoundedSemaphore(max(1, os.cpu_count() or 1))


async def _verify(confirmer: Confirmer, gw: Gateway, scanned: str) -> VerificationResult:
    """CPU only and fast on the event loop (in-memory state, no database). Only a remote
    issuer's compromised key makes it ask the issuing city for a signed confirmation."""
    state = gw.state
    now = gw.clock()
    confirmer.revalidate(state.trust, state.version, now)
    bound = verifier_bound(gw)
    result = verify_scanned(
        scanned, trust=state.trust, statuses=state.statuses, now=now,
        confirmed=confirmer.confirmed, max_status_age=bound,
    )  # fmt: skip
    remote = result.issuer is not None and result.issuer.expires_at is not None
    if result.reason is Reason.KEY_NOT_VALID_AT_ISSUANCE and remote and result.token:
        digest = hashlib.sha256(result.token.encode()).digest()
        if await asyncio.to_thread(confirmer.ask, result.token, digest, state.trust):
            result = verify_scanned(
                scanned, trust=state.trust, statuses=state.statuses, now=now,
                confirmed={digest}, max_status_age=bound,
            )  # fmt: skip
    return result


@router.post("", summary="Verify scanned QR text 核验二维码内容")
async def verify_text(
    body: VerifyBody, gw: GatewayDep, confirmer: ConfirmerDep, request: Request
) -> dict[str, Any]:
    result = await _verify(confirmer, gw, body.qr)
    observe.verify_answered(request.scope, result.reason.value)  # /metrics: answers by reason
    extra = verify_extras.extras_without_io(gw, result)
    if extra is None:  # a record to read (a revocation's date, reason, kind): off the loop
        extra = await asyncio.to_thread(verify_extras.extras, gw, result)
    return {**verification_json(result), **extra}


def codes_in(file: UploadFile) -> list[str]:
    """The texts of the QR codes in an uploaded photo or screenshot (at least one), read in a
    worker thread; :class:`Unprocessable` for an image over the bound or without a code."""
    data = file.file.read(MAX_IMAGE_BYTES + 1)
    if len(data) > MAX_IMAGE_BYTES:
        raise Unprocessable(
            f"图片过大（上限 {MAX_IMAGE_BYTES // 1048576} MiB）",
            f"image is larger than {MAX_IMAGE_BYTES // 1048576} MiB",
        )
    with IMAGE_DECODES:  # a few MB of PNG can decode to hundreds of MB: bound how many at once
        texts = decode_image(data)
    if not texts:
        raise Unprocessable(
            "图片中未找到二维码，请拍清晰、完整的二维码",
            "no QR code found in the image: photograph the whole code, in focus",
        )
    return texts


@router.post("/image", summary="Verify a photo or screenshot of a QR code 上传图片核验")
def verify_image(
    gw: GatewayDep,
    confirmer: ConfirmerDep,
    file: Annotated[UploadFile, File(description="photo or screenshot")],
    request: Request,
) -> dict[str, Any]:
    texts = codes_in(file)
    result = anyio.from_thread.run(_verify, confirmer, gw, texts[0])
    observe.verify_answered(request.scope, result.reason.value)
    return {
        **verification_json(result),
        **verify_extras.extras(gw, result),
        "codes_found": len(texts),
    }
