"""Counter and kiosk verification: scanned text or a photo of the QR code."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, UploadFile

from gateway.deps import GatewayDep
from gateway.errors import Unprocessable
from gateway.schemas import VerifyBody, verification_json
from verify.scan import decode_image
from verify.verifier import verify_scanned

router = APIRouter(prefix="/api/v1/verify", tags=["verify 核验"])
MAX_IMAGE_BYTES = 10 * 1024 * 1024


@router.post("", summary="Verify scanned QR text 核验二维码内容")
async def verify_text(body: VerifyBody, gw: GatewayDep) -> dict[str, Any]:
    # CPU only and fast: runs on the event loop, reads the in-memory state, no database.
    state = gw.state
    result = verify_scanned(body.qr, trust=state.trust, statuses=state.statuses, now=gw.clock())
    return verification_json(result)


@router.post("/image", summary="Verify a photo or screenshot of a QR code 上传图片核验")
def verify_image(
    gw: GatewayDep, file: Annotated[UploadFile, File(description="photo or screenshot")]
) -> dict[str, Any]:
    data = file.file.read(MAX_IMAGE_BYTES + 1)
    if len(data) > MAX_IMAGE_BYTES:
        raise Unprocessable(
            f"图片过大（上限 {MAX_IMAGE_BYTES // 1048576} MiB）",
            f"image is larger than {MAX_IMAGE_BYTES // 1048576} MiB",
        )
    texts = decode_image(data)
    if not texts:
        raise Unprocessable(
            "图片中未找到二维码，请拍清晰、完整的二维码",
            "no QR code found in the image: photograph the whole code, in focus",
        )
    state = gw.state
    result = verify_scanned(texts[0], trust=state.trust, statuses=state.statuses, now=gw.clock())
    return {**verification_json(result), "codes_found": len(texts)}
