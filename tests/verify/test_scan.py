"""Scanned text and uploaded images → compact JWS; only DataError escapes on bad input."""

from __future__ import annotations

import io
import random
import struct
import zlib
from collections.abc import Callable
from typing import Any

import pytest
import zxingcpp
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from trust.encoding import jws_to_numeric
from trust.errors import DataError
from verify.scan import MAX_SCAN_LENGTH, _token_in_any_form, decode_image, extract_token

# extract_token does not verify: a fixed, well-formed token keeps the tables readable.
TOKEN = "eyJhbGciOiJFUzI1NiIsInR5cCI6ImVjZXJ0K2p3dCJ9.eyJ0IjoiYmwifQ.c2lnbmF0dXJlLWJ5dGVz_-"
DIGITS = jws_to_numeric(TOKEN)
HOST = "https://ecert.hangzhou.gov.cn"


@pytest.mark.parametrize(
    "scanned",
    [
        pytest.param(f"{HOST}/v#{DIGITS}", id="url-digits"),
        pytest.param(f"http://127.0.0.1:8000/v#{DIGITS}", id="http-url-digits"),
        pytest.param(f"HTTPS://ECERT.SH.GOV.CN/V#{DIGITS}", id="upper-case-url"),
        pytest.param(f"https://zwfw.example.cn/ecert/v#{DIGITS}", id="url-under-prefix"),
        pytest.param(f"{HOST}/v#{TOKEN}", id="url-jws-fragment"),
        pytest.param(DIGITS, id="bare-digits"),
        pytest.param(TOKEN, id="bare-jws"),
        pytest.param(f"{HOST}/v#{DIGITS}\r\n", id="trailing-crlf"),
        pytest.param(f"{DIGITS}\t", id="trailing-tab"),
        pytest.param(f"  {TOKEN}\n", id="padded-jws"),
        pytest.param(f"{DIGITS[:70]}\n{DIGITS[70:]}", id="wrapped-digits"),
    ],
)
def test_extract_token_accepts(scanned: str) -> None:
    assert extract_token(scanned) == TOKEN


@pytest.mark.parametrize(
    ("scanned", "match"),
    [
        pytest.param("", "found nothing", id="empty"),
        pytest.param(" \r\n", "found nothing", id="only-whitespace"),
        pytest.param("1" * (MAX_SCAN_LENGTH + 1), "at most 8192 allowed", id="too-long"),
        pytest.param(DIGITS[:-1], "even number of ASCII digits", id="odd-digits"),
        pytest.param(f"{HOST}/v#{DIGITS}1", "even number of ASCII digits", id="url-odd-digits"),
        pytest.param(
            "9999", "stands for no character of a compact JWS", id="digits-out-of-alphabet"
        ),
        pytest.param("1212", "digits that decode to '99'", id="digits-not-a-jws"),
        pytest.param(f"{HOST}/v", "URL without one", id="url-no-fragment"),
        pytest.param(f"{HOST}/v#", "URL without one", id="url-empty-fragment"),
        pytest.param("https://example.com/page", "URL without one", id="other-url"),
        pytest.param(
            f"{HOST}/v#hello", "text after '#' to be QR digits or a compact JWS", id="url-junk"
        ),
        pytest.param("http://[::1/v#12", "digits that decode to", id="broken-url"),
        pytest.param("hello world", "found 'helloworld'", id="words"),
        pytest.param("a.b", "compact JWS", id="two-parts"),
        pytest.param("a..c", "compact JWS", id="empty-part"),
        pytest.param("a.b.c.d.e", "compact JWS", id="five-parts-jwe"),
        pytest.param("a.b+c.d", "compact JWS", id="base64-not-url"),
        pytest.param("ＡＢＣ.ＤＥＦ.ＧＨＩ", "compact JWS", id="full-width"),
        pytest.param("１２３４", "compact JWS", id="full-width-digits"),
        pytest.param("ecert:" + DIGITS, "compact JWS", id="unknown-scheme"),
    ],
)
def test_extract_token_rejects(scanned: str, match: str) -> None:
    with pytest.raises(DataError, match=match):
        extract_token(scanned)


def test_extract_token_error_does_not_echo_long_input() -> None:
    with pytest.raises(DataError) as info:
        extract_token("x" * 5000)
    assert len(str(info.value)) < 200


# --- images -------------------------------------------------------------------------------------

QR_TEXT = f"{HOST}/v#{DIGITS}"


def qr_image(text: str = QR_TEXT, scale: int = 4) -> Image.Image:
    barcode = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode, ec_level="M")
    return Image.fromarray(barcode.to_image(scale=scale)).convert("L")


def noise(size: tuple[int, int], seed: int, low: int = 60, high: int = 200) -> Image.Image:
    rng = random.Random(seed)
    data = bytes(rng.randrange(low, high) for _ in range(size[0] * size[1]))
    return Image.frombytes("L", size, data).convert("RGB")


def save(image: Image.Image, fmt: str, **kwargs: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **kwargs)
    return out.getvalue()


def png_with_size(width: int, height: int) -> bytes:
    """A PNG whose header declares ``width``×``height``: a decompression bomb's calling card."""
    raw = save(Image.new("L", (1, 1), 255), "PNG")
    ihdr = raw[16:29]  # width, height, depth, colour type, compression, filter, interlace
    forged = struct.pack(">II", width, height) + ihdr[8:]
    chunk = b"IHDR" + forged
    return raw[:8] + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk)) + raw[33:]


def test_decode_photo_with_exif_rotation(monkeypatch: pytest.MonkeyPatch) -> None:
    upright = noise((1200, 900), seed=7)
    upright.paste(qr_image(), (500, 250))
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # as the sensor wrote it: 900×1200
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display
    jpeg = save(stored, "JPEG", quality=85, exif=exif.tobytes())

    seen: list[tuple[int, int]] = []
    read = zxingcpp.read_barcodes

    def spy(image: Image.Image, **kwargs: Any) -> list[zxingcpp.Barcode]:
        seen.append(image.size)
        return read(image, **kwargs)

    monkeypatch.setattr(zxingcpp, "read_barcodes", spy)
    assert decode_image(jpeg) == [QR_TEXT]
    assert seen[0] == (1200, 900)  # decoded upright, after EXIF orientation was applied


def test_decode_screenshot_with_transparent_background() -> None:
    qr = qr_image()
    rgba = Image.new("RGBA", qr.size, (0, 0, 0, 0))
    rgba.putalpha(qr.point(lambda v: 255 - v))  # dark modules opaque black, the rest transparent
    assert decode_image(save(rgba, "PNG")) == [QR_TEXT]


def test_decode_low_contrast_photo_on_second_try() -> None:
    faint = qr_image().point(lambda v: 120 if v else 100)
    canvas = Image.new("L", (2400, 1800), 110)
    canvas.paste(faint, (900, 700))
    assert decode_image(save(canvas, "PNG")) == [QR_TEXT]


def test_decode_two_codes_in_one_image() -> None:
    other = f"{HOST}/v#{jws_to_numeric('a.b.c')}"
    canvas = Image.new("L", (1400, 700), 255)
    canvas.paste(qr_image(), (20, 100))
    canvas.paste(qr_image(other), (720, 100))
    assert sorted(decode_image(save(canvas, "WEBP", lossless=True))) == sorted([QR_TEXT, other])


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "GIF", "BMP"])
def test_image_without_qr_gives_empty_list(fmt: str) -> None:
    assert decode_image(save(noise((640, 480), seed=3), fmt)) == []


@pytest.mark.parametrize(
    ("data", "kwargs", "match"),
    [
        pytest.param(png_with_size(100_000, 100_000), {}, "too large to decode", id="bomb-pillow"),
        pytest.param(png_with_size(10_000, 10_000), {}, "too large|at most", id="bomb-warning"),
        pytest.param(png_with_size(8_000, 6_000), {}, "at most 40,000,000", id="over-40mp"),
        pytest.param(png_with_size(2_000, 2_000), {"max_pixels": 1_000_000}, "at most 1,000,000"),
        pytest.param(random.Random(1).randbytes(4096), {}, "cannot identify", id="random-bytes"),
        pytest.param(b"", {}, "empty upload", id="empty"),
        pytest.param(b"\x89PNG" + b"\0" * 64, {"max_bytes": 32}, "at most 32 allowed", id="bytes"),
        pytest.param(b"%PDF-1.7\n", {}, "cannot identify", id="pdf"),
        pytest.param(
            save(Image.new("L", (8, 8)), "TIFF"), {}, "cannot identify", id="format-not-allowed"
        ),
        pytest.param(
            save(noise((400, 300), seed=5), "PNG")[:2000], {}, "damaged or truncated", id="cut-png"
        ),
        pytest.param(
            save(noise((400, 300), seed=5), "JPEG")[:3000], {}, "damaged or truncated", id="cut-jpg"
        ),
    ],
)
def test_decode_rejects(data: bytes, kwargs: dict[str, int], match: str) -> None:
    with pytest.raises(DataError, match=match):
        decode_image(data, **kwargs)


@pytest.mark.parametrize(
    "make",
    [
        lambda: save(qr_image(scale=2), "PNG"),
        lambda: save(qr_image(scale=2), "JPEG", quality=80),
        lambda: save(qr_image(scale=2), "GIF"),
    ],
    ids=["png", "jpeg", "gif"],
)
def test_damaged_files_raise_only_data_error(make: Callable[[], bytes]) -> None:
    original = make()
    rng = random.Random(2024)
    for _ in range(150):
        data = bytearray(original)
        for _ in range(rng.randrange(1, 6)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        try:
            texts = decode_image(bytes(data))
        except DataError:
            continue
        assert all(isinstance(text, str) for text in texts)


def _outcome(extract: Callable[[str], str], scanned: str) -> str:
    try:
        return "token " + extract(scanned)
    except DataError as exc:
        return "error " + str(exc)


_PIECES = st.sampled_from(
    [HOST + "/v", "http://127.0.0.1:8000/v", "HTTPS://X.CN/V", "#", "##", DIGITS, DIGITS[:-1],
     DIGITS[:40], "1212", "9999", TOKEN, "a..c", " ", "\r\n", "\t", "\u3000", "\x1c", "0", "x",
     "a.b", ".c", "9.a.b", "é", "-_"]
)  # fmt: skip


@settings(max_examples=400)
@given(st.lists(_PIECES, max_size=6))
def test_the_url_shortcut_answers_as_the_general_path(pieces: list[str]) -> None:
    # extract_token tries the common forms (a URL without white space, digits after '#'; a
    # bare compact JWS) first: for any text it must answer, token or error text, as the
    # general path alone does.
    scanned = "".join(pieces)
    assert _outcome(extract_token, scanned) == _outcome(_token_in_any_form, scanned)


@pytest.mark.parametrize(
    "scanned",
    [f"{HOST}/v#{DIGITS}", f"{HOST}/v#{DIGITS}\r\n", f"{HOST}\u3000/v#{DIGITS}",
     f"{HOST}/v#{DIGITS[:20]} {DIGITS[20:]}", f"{HOST}/v#{DIGITS}#{DIGITS}"],
    ids=["plain", "crlf", "ideographic-space-in-host", "space-in-digits", "two-fragments"],
)  # fmt: skip
def test_the_url_shortcut_and_the_general_path_agree_on_url_forms(scanned: str) -> None:
    assert _outcome(extract_token, scanned) == _outcome(_token_in_any_form, scanned)
