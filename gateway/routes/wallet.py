"""The web wallet's own API (the page is ``GET /wallet``, :mod:`gateway.routes.pages`): resolve
a counter's request through this gateway's federation (:mod:`gateway.wallet_requests`), and
read the text of a QR code in a photo (for browsers without ``BarcodeDetector``). Neither
needs a key: both answer only what anyone may learn, and neither writes. Errors in the house
shape (``code``, ``message`` zh-CN, ``message_en``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Response, UploadFile
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from gateway import wallet_requests
from gateway.deps import FetcherDep, GatewayDep
from gateway.routes.verify import codes_in
from trust.oid4vp_wallet import MAX_LINK

router = APIRouter(prefix="/wallet/api", tags=["web wallet 网页钱包"])
NO_STORE = {"Cache-Control": "no-store"}


class ResolveBody(BaseModel):
    uri: str = Field(
        min_length=1,
        max_length=MAX_LINK,
        description="the counter's openid4vp://?client_id=…&request_uri=… link",
    )


@router.post(
    "/requests/resolve",
    summary="Who asks, for what and why: a counter's request resolved 核实出示请求",
)
async def resolve(
    body: ResolveBody, gw: GatewayDep, fetcher: FetcherDep, response: Response
) -> dict[str, Any]:
    response.headers.update(NO_STORE)
    return await run_in_threadpool(wallet_requests.resolve_request, gw, fetcher, body.uri.strip())


@router.post("/qr/image", summary="The text of a QR code in a photo 读取图片中的二维码")
def qr_text(
    file: Annotated[UploadFile, File(description="photo or screenshot")],
) -> dict[str, Any]:
    texts = codes_in(file)
    return {"text": texts[0], "codes_found": len(texts)}
