"""QR text, encoding and rendering: round trips through the scanner code and the size budget."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
import zlib

import pytest
import zxingcpp
from PIL import Image

from issuers.qr import (
    MAX_TEXT_BYTES,
    QUIET_ZONE,
    encode,
    qr_text,
    qr_version,
    render_png,
    render_svg,
)
from trust.errors import DataError
from trust.jws import sign_compact
from trust.keys import SigningKey
from verify.scan import decode_image, extract_token

PUBLIC_URL = "https://ecert.hangzhou.gov.cn"
COMPANY = "浙江省杭州西湖区云栖数字科技信息技术服务咨询管理有限责任公司"  # 30 characters


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey.generate()


def licence_token(key: SigningKey) -> str:
    payload = {
        "t": "bl",
        "jti": "Hc3Zq0Yb7Kx2Vw9p",
        "iat": 1735689600,
        "exp": 2051222400,
        "status": {"status_list": {"idx": 1048575, "uri": f"{PUBLIC_URL}/sl/12"}},
        "c": {"name": COMPANY, "uscc": "91330106MA2CFE7K1Q"},
    }
    return sign_compact(payload, key, typ="ecert+jwt", kid=key.public.short_kid)


def test_company_name_is_thirty_characters() -> None:
    assert len(COMPANY) == 30


def test_qr_text_strips_trailing_slash_and_uses_numeric_form() -> None:
    text = qr_text(PUBLIC_URL + "/", "a.b.c")
    assert text == f"{PUBLIC_URL}/v#5201530154"


@pytest.mark.parametrize(
    "public_url",
    [
        "ecert.hangzhou.gov.cn",
        "ftp://ecert.hangzhou.gov.cn",
        f"{PUBLIC_URL}/?x=1",
        f"{PUBLIC_URL}#",
    ],
    ids=["no-scheme", "other-scheme", "query", "fragment"],
)
def test_qr_text_rejects_unusable_public_url(public_url: str) -> None:
    with pytest.raises(DataError, match="public URL"):
        qr_text(public_url, "a.b.c")


def test_qr_text_rejects_non_jws_characters() -> None:
    with pytest.raises(DataError, match="cannot appear in a compact JWS"):
        qr_text(PUBLIC_URL, "a.b.c=")


def test_png_round_trip_through_scanner(key: SigningKey) -> None:
    token = licence_token(key)
    png = render_png(qr_text(PUBLIC_URL, token))
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert [extract_token(text) for text in decode_image(png)] == [token]


def test_png_keeps_quiet_zone_and_scale(key: SigningKey) -> None:
    text = qr_text(PUBLIC_URL, licence_token(key))
    code = encode(text)
    with Image.open(io.BytesIO(render_png(text, scale=3))) as image:
        assert image.size == ((code.size + 2 * QUIET_ZONE) * 3,) * 2
        assert image.getpixel((0, 0)) == 255  # light quiet zone
        assert image.getpixel((QUIET_ZONE * 3, QUIET_ZONE * 3)) == 0  # finder pattern corner


def test_business_licence_fits_version_17_at_ecc_m(key: SigningKey) -> None:
    text = qr_text(PUBLIC_URL, licence_token(key))
    code = encode(text, ec_level="M", max_version=17)
    assert code.version <= 17
    assert code.version == qr_version(text, "M")
    assert code.size == 17 + 4 * code.version
    assert all(len(row) == code.size for row in code.modules)
    assert code.ec_level == "M"
    assert code.text == text


def test_numeric_form_beats_plain_token(key: SigningKey) -> None:
    token = licence_token(key)
    assert qr_version(qr_text(PUBLIC_URL, token)) < qr_version(f"{PUBLIC_URL}/v#{token}")


def test_encode_above_max_version_raises(key: SigningKey) -> None:
    text = qr_text(PUBLIC_URL, licence_token(key))
    with pytest.raises(DataError, match=r"needs version \d+ at ECC level H, at most 10 allowed"):
        encode(text, ec_level="H", max_version=10)


def test_svg_is_xml_with_svg_root_and_quiet_zone(key: SigningKey) -> None:
    text = qr_text(PUBLIC_URL, licence_token(key))
    side = encode(text).size + 2 * QUIET_ZONE
    root = ET.fromstring(render_svg(text))  # noqa: S314 - our own output, no entities
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("viewBox") == f"0 0 {side} {side}"
    assert root.find("{http://www.w3.org/2000/svg}path") is not None


@pytest.mark.parametrize(
    ("text", "kwargs", "match"),
    [
        pytest.param("1" * (MAX_TEXT_BYTES + 1), {}, "no QR code holds more", id="over-7089"),
        pytest.param("汉" * 2400, {}, "no QR code holds more", id="multibyte-over-bound"),
        pytest.param("a" * 2400, {}, "does not fit any QR version", id="too-long-for-ecc-m"),
        pytest.param("", {}, "must not be empty", id="empty"),
        pytest.param("x", {"ec_level": "X"}, "ECC level must be one of", id="bad-ecc"),
        pytest.param("x", {"max_version": 41}, "max_version must be", id="bad-max-version"),
    ],
)
def test_encode_rejects(text: str, kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(DataError, match=match):
        encode(text, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "render",
    [render_png, render_svg, qr_version],
    ids=["png", "svg", "version"],
)
def test_renderers_reject_oversize_text(render: object) -> None:
    with pytest.raises(DataError, match="no QR code holds more"):
        render("9" * 10_000)  # type: ignore[operator]


@pytest.mark.parametrize("scale", [0, 21])
def test_render_png_bounds_scale(scale: int) -> None:
    with pytest.raises(DataError, match="scale must be between"):
        render_png("x", scale=scale)


def _png_chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    """(type, data) of each chunk, checking each CRC-32 (PNG §5.3)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, at = [], 8
    while at < len(png):
        length = int.from_bytes(png[at : at + 4], "big")
        kind, data = png[at + 4 : at + 8], png[at + 8 : at + 8 + length]
        crc = int.from_bytes(png[at + 8 + length : at + 12 + length], "big")
        assert crc == zlib.crc32(kind + data), kind
        chunks.append((kind, data))
        at += 12 + length
    assert at == len(png)
    return chunks


@pytest.mark.parametrize("scale", [1, 2, 3, 6, 7, 8, 20])
def test_png_is_pixel_identical_to_a_nearest_resize(key: SigningKey, scale: int) -> None:
    text = qr_text(PUBLIC_URL, licence_token(key))
    side = encode(text).size + 2 * QUIET_ZONE
    expected = Image.new("1", (side, side), 1)
    for y, row in enumerate(encode(text).modules):
        for x, dark in enumerate(row):
            expected.putpixel((x + QUIET_ZONE, y + QUIET_ZONE), 0 if dark else 1)
    expected = expected.resize((side * scale,) * 2, Image.Resampling.NEAREST)
    png = render_png(text, scale=scale)
    kinds = [kind for kind, _ in _png_chunks(png)]
    assert kinds == [b"IHDR", b"IDAT", b"IEND"]
    # width, height, bit depth 1, colour type 0 (greyscale), deflate, filter 0, no interlace
    assert _png_chunks(png)[0][1] == (side * scale).to_bytes(4, "big") * 2 + bytes((1, 0, 0, 0, 0))
    with Image.open(io.BytesIO(png)) as image:
        assert image.mode == "1"
        assert image.size == expected.size
        assert image.tobytes() == expected.tobytes()


@pytest.mark.parametrize("ec_level", ["L", "M", "Q", "H"])
@pytest.mark.parametrize("text", [f"{PUBLIC_URL}/v#5601", "杭州市 e-licence"], ids=["url", "utf-8"])
def test_png_decodes_to_the_text_at_the_requested_ecc_level(text: str, ec_level: str) -> None:
    png = render_png(text, scale=4, ec_level=ec_level)
    with Image.open(io.BytesIO(png)) as image:
        found = zxingcpp.read_barcodes(image.convert("L"))
    assert [(barcode.text, barcode.ec_level) for barcode in found] == [(text, ec_level)]
