"""From what a scanner, camera or photo gives to the compact JWS it carries.

- :func:`extract_token` takes scanned text: the verify URL ``http(s)://host/…/v#digits`` (or with
  a plain compact JWS after ``#``), the bare digits, or a bare compact JWS. Scanner guns type the
  text and append CR/LF or Tab; copied text may be wrapped. White space is dropped everywhere,
  as neither form can contain any.
- :func:`decode_image` finds every QR code in a photo or screenshot with Pillow and zxing-cpp,
  within size and pixel bounds set before any pixel is decoded.

Pure: bytes and strings in, strings out. It does not verify signatures, check the host of a
URL (any city's gateway may have issued the QR; the signature decides), or choose what to tell
the user when an image holds no QR code. It never imports ``issuers``.
"""

from __future__ import annotations

import io
import re
import struct

import zxingcpp
from PIL import Image, ImageOps, UnidentifiedImageError

from trust.encoding import numeric_to_jws
from trust.errors import DataError

MAX_SCAN_LENGTH = 8192  # characters; the largest QR code holds 7,089
MAX_IMAGE_BYTES = 10 * 1024 * 1024
MAX_IMAGE_PIXELS = 40_000_000
IMAGE_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP")
_RETRY_LONGEST_SIDE = 1600  # second pass: phone photos are downscaled to this

_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_DIGIT_CHARS = frozenset("0123456789")
_URL = re.compile(r"https?://", re.IGNORECASE)
# The part before '#' of a verify URL with no white space in it (``\S`` is what str.split
# splits on).
_PLAIN_URL = re.compile(r"https?://\S*", re.IGNORECASE)
_QR_ONLY = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
# What Pillow raises on damaged or hostile files, besides its own OSError subclasses.
_PILLOW_ERRORS = (
    OSError,
    ValueError,
    SyntaxError,
    EOFError,
    IndexError,
    struct.error,
    Image.DecompressionBombError,
    Image.DecompressionBombWarning,
)


def _describe(text: str) -> str:
    shown = text if len(text) <= 40 else text[:37] + "..."
    return f"{shown!r} ({len(text)} characters)"


def _token_from(payload: str, *, what: str) -> str:
    if payload[:1] in _DIGIT_CHARS:  # a compact JWS starts with 'e' ('{"' in base64url)
        token = numeric_to_jws(payload)  # checks the digits; only JWS characters come out
        parts = token.split(".")  # cheaper than count() and a search for "..": the hot path
        if len(parts) != 3 or not (parts[0] and parts[1] and parts[2]):
            raise DataError(
                f"expected {what} to be digits encoding a compact JWS, found digits that decode "
                f"to {_describe(token)}"
            )
        return token
    if _JWS.fullmatch(payload):
        return payload
    raise DataError(
        f"expected {what} to be QR digits or a compact JWS (three base64url parts joined by "
        f"'.'), found {_describe(payload)}"
    )


def extract_token(scanned: str) -> str:
    """The compact JWS inside scanned QR text; :class:`DataError` for anything else."""
    if len(scanned) > MAX_SCAN_LENGTH:
        raise DataError(
            f"scanned text is {len(scanned)} characters, at most {MAX_SCAN_LENGTH} allowed"
        )
    # The common forms first: a verify URL without white space, QR digits after '#' (digits
    # cannot hide white space from numeric_to_jws: it refuses any), and a bare compact JWS. When
    # one answers, the general path below would have answered the same; on any failure that
    # path decides.
    head, sep, fragment = scanned.partition("#")
    if sep:
        if fragment[:1] in _DIGIT_CHARS and _PLAIN_URL.fullmatch(head):
            try:
                return _token_from(fragment, what="the text after '#'")
            except DataError:
                pass
    elif scanned[:1] not in _DIGIT_CHARS and _JWS.fullmatch(scanned):
        # A bare compact JWS: no white space, no URL (':' is not in it), not digits, so the
        # general path would answer it as it is; the pass over white space is skipped.
        return scanned
    return _token_in_any_form(scanned)


def _token_in_any_form(scanned: str) -> str:
    """:func:`extract_token` for every form it takes, white space anywhere (its general path)."""
    text = "".join(scanned.split())  # scanner guns append CR, LF or Tab; pastes wrap
    if not text:
        raise DataError("expected a verify URL, QR digits or a compact JWS, found nothing")
    if _URL.match(text):
        # RFC 3986 §3.5: the fragment is everything after the first '#'.
        fragment = text.partition("#")[2]
        if not fragment:
            raise DataError(
                "expected a verify URL with the certificate after '#', found a URL without "
                f"one: {_describe(text)}"
            )
        return _token_from(fragment, what="the text after '#'")
    return _token_from(text, what="the scanned text")


def _open(data: bytes, *, max_bytes: int, max_pixels: int) -> Image.Image:
    if not data:
        raise DataError("expected an image, found an empty upload")
    if len(data) > max_bytes:
        raise DataError(f"image is {len(data)} bytes, at most {max_bytes} allowed")
    try:
        image = Image.open(io.BytesIO(data), formats=IMAGE_FORMATS)
        # Image.open reads only the header: check the declared size before decoding pixels.
        width, height = image.size
        if width < 1 or height < 1 or width * height > max_pixels:
            raise DataError(
                f"image is {width}×{height} pixels, at most {max_pixels:,} pixels allowed"
            )
        oriented = ImageOps.exif_transpose(image)
        oriented.load()
    except UnidentifiedImageError as exc:
        raise DataError(
            f"expected an image ({', '.join(IMAGE_FORMATS)}), found data Pillow cannot identify"
        ) from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DataError(f"image is too large to decode safely: {exc}") from exc
    except _PILLOW_ERRORS as exc:
        raise DataError(f"image is damaged or truncated: {exc}") from exc
    return oriented


def _greyscale(image: Image.Image) -> Image.Image:
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        # A transparent screenshot would otherwise turn dark modules and background both black.
        rgba = image.convert("RGBA")
        flat = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        flat.alpha_composite(rgba)
        return flat.convert("L")
    return image.convert("L")


def _read(image: Image.Image) -> list[str]:
    found = zxingcpp.read_barcodes(image, formats=_QR_ONLY)
    return list(dict.fromkeys(barcode.text for barcode in found))


def decode_image(
    data: bytes, *, max_bytes: int = MAX_IMAGE_BYTES, max_pixels: int = MAX_IMAGE_PIXELS
) -> list[str]:
    """The text of every QR code in a photo or screenshot, in reading order, without repeats.

    Returns ``[]`` when the image holds no readable QR code; raises :class:`DataError` when the
    data is not an image we accept or exceeds ``max_bytes`` or ``max_pixels``.
    """
    try:
        grey = _greyscale(_open(data, max_bytes=max_bytes, max_pixels=max_pixels))
    except _PILLOW_ERRORS as exc:
        raise DataError(f"image is damaged or truncated: {exc}") from exc
    texts = _read(grey)
    if texts:
        return texts
    # Second try for glare, low contrast and noisy full-resolution phone photos.
    retry = grey.copy()
    retry.thumbnail((_RETRY_LONGEST_SIDE, _RETRY_LONGEST_SIDE), Image.Resampling.LANCZOS)
    return _read(ImageOps.autocontrast(retry, cutoff=2))
