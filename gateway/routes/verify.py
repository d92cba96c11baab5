"""Counter and kiosk verification: scanned text or a photo of the QR code."""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
from typing import Annotated, Any

import anyio.from_thread
from fastapi import APIRouter, File, Request, UploadFile

from gateway import fast_verify, observe, verify_extras
from gateway.address_limits import client_address
from gateway.confirmations import Confirmer
from gateway.core import Gateway
from gateway.deps import ConfirmerDep, GatewayDep, LimiterDep
from gateway.errors import Unprocessable
from gateway.schemas import BATCH_MAX_QRS, VerifyBatchBody, VerifyBody, verification_json
from verify.result import VerificationResult
from verify.scan import decode_image

router = APIRouter(prefix="/api/v1/verify", tags=["verify 核验"])
MAX_IMAGE_BYTES = 10 * 1024 * 1024
# Decoding is CPU-bound: more at once than cores only adds memory (an image within the pixel
# bound can take ~450 MB while decoded).
IMAGE_DECODES = threading.BoundedSemaphore(max(1, os.cpu_count() or 1))


async def _verify(confirmer: Confirmer, gw: Gateway, scanned: str) -> VerificationResult:
    """CPU only and fast on the event loop (in-memory state, no database). Only a remote
    issuer's compromised key makes it ask the issuing city for a signed confirmation."""
    result = fast_verify.decide(gw, confirmer, scanned)
    if fast_verify.needs_confirmation(result):
        assert result.token is not None  # needs_confirmation says so
        digest = hashlib.sha256(result.token.encode()).digest()
        if await asyncio.to_thread(confirmer.ask, result.token, digest, gw.state.trust):
            result = fast_verify.decide(gw, confirmer, scanned, confirmed={digest})
    return result


# Both endpoints are answered by the fast path in front of the app (gateway.fast_verify) when
# the request is plain JSON within its bounds; these routes answer the rest and document both.
@router.post("", summary="Verify scanned QR text 核验二维码内容")
async def verify_text(
    body: VerifyBody, gw: GatewayDep, confirmer: ConfirmerDep, request: Request
) -> dict[str, Any]:
    result = await _verify(confirmer, gw, body.qr)
    observe.verify_answered(request.scope, result.reason.value)  # /metrics: answers by reason
    return (await fast_verify.answers(gw, [result]))[0]


@router.post(
    "/batch",
    summary=f"Verify up to {BATCH_MAX_QRS} scanned QR texts at once 批量核验二维码内容",
    description=(
        f"One answer per text, in order, each as `POST /api/v1/verify` answers it (same reason "
        f"codes). 1 to {BATCH_MAX_QRS} texts and at most 256 KiB of body; a text that is not a "
        "string, empty or too long refuses the whole request (422, `errors[].field` "
        "`qrs.<index>`). Batches have their own per-address budget, counted in texts "
        "(`ECERT_RATE_LIMIT_VERIFY_BATCH`); a batch of more texts than it ever admits at once "
        "is refused (422), a spent one answers 429 with an honest `Retry-After`. "
        f"每个二维码内容一个结果，顺序不变；一次 1 至 {BATCH_MAX_QRS} 个，按个数计入批量核验限流。"
    ),
)
async def verify_batch(
    body: VerifyBatchBody,
    gw: GatewayDep,
    confirmer: ConfirmerDep,
    limiter: LimiterDep,
    request: Request,
) -> dict[str, Any]:
    most = limiter.most(fast_verify.BATCH_RULE)
    if most is not None and len(body.qrs) > most:  # would wait for ever: not a 429
        raise Unprocessable(
            f"按本网关的限流设置，每次批量核验最多 {most} 个二维码内容，实际为 {len(body.qrs)} 个",
            f"at most {most} QR texts a request under this gateway's rate limits; "
            f"found {len(body.qrs)}",
        )
    # One a QR: the request's own was spent before its body was read (and the rest already, if
    # the fast path spent them before it handed the request on).
    if len(body.qrs) > 1 and not request.scope.get(fast_verify.BATCH_SPENT):
        limiter.hit(fast_verify.BATCH_RULE, client_address(request.scope), cost=len(body.qrs) - 1)
    results = [await _verify(confirmer, gw, qr) for qr in body.qrs]
    for result in results:
        observe.verify_answered(request.scope, result.reason.value)
    return {"results": await fast_verify.answers(gw, results)}


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
