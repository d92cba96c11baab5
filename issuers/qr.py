"""QR codes for signed certificates: the QR text, and PNG/SVG renderings of it.

The QR text is ``{public_url}/v#{digits}`` where ``digits`` is the compact JWS in the numeric
form of :func:`trust.encoding.jws_to_numeric` (two digits a character, as SMART Health Cards
do). libzint segments modes by itself: byte mode for the URL prefix, numeric mode (3.33 bits a
digit) for the token, so a business licence fits version 17 at ECC level M; it also picks the
mask with the lowest ISO/IEC 18004 penalty.
A phone camera opens the verify page with the token in the fragment, which browsers never send
to a server; scanners hand the whole text to :func:`verify.scan.extract_token`.

This module does no I/O and knows nothing of HTTP: it returns bytes and strings. It does not
sign or parse tokens.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from urllib.parse import urlsplit

import zint
from PIL import Image

from trust.encoding import jws_to_numeric
from trust.errors import DataError

EC_LEVELS = ("L", "M", "Q", "H")
# ISO/IEC 18004 Table 7: the most any QR code holds is 7,089 numeric characters (version 40-L);
# each character is at least one byte of UTF-8, so longer text is rejected before encoding.
MAX_TEXT_BYTES = 7089
MAX_VERSION = 40
QUIET_ZONE = 4  # modules each side (ISO/IEC 18004 §6.3.8)
MAX_SCALE = 20  # pixels a module; version 40 at 20 is 3,700 px square
_VERIFY_PATH = "/v#"
MAX_PUBLIC_URL = 200
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_ZINT_ECC = {"L": 1, "M": 2, "Q": 3, "H": 4}  # zint's option_1 for QR Code
# zint packs each row least significant bit first, 1 = dark; Pillow's mode "1" packs most
# significant bit first, 1 = light: reverse each byte's bits and invert them.
_ZINT_TO_PILLOW = bytes(0xFF ^ int(f"{byte:08b}"[::-1], 2) for byte in range(256))


def check_public_url(value: str) -> str:
    """``value`` without its trailing slash, if it can begin a QR text and a status list URI.

    That is an ``https://`` or ``http://`` URL (RFC 3986 §3) naming a host, with no user name,
    query or fragment (the verify page reads the token from the fragment, so the URL must not
    bring one), no spaces or control characters, and at most :data:`MAX_PUBLIC_URL` characters
    (``{url}/statuslists/{id}`` must fit its 300-character column).
    """

    def refuse(zh: str, en: str) -> DataError:
        return DataError(f"公共网址{zh}，实际为 {value!r} · public URL must {en}, found {value!r}")

    if not isinstance(value, str) or not value.startswith(("https://", "http://")):
        raise refuse("须以 https:// 或 http:// 开头", "start with https:// or http://")
    if len(value) > MAX_PUBLIC_URL:
        raise refuse(f"不得超过 {MAX_PUBLIC_URL} 个字符", f"be at most {MAX_PUBLIC_URL} characters")
    if any(c.isspace() or not c.isprintable() for c in value):
        raise refuse("不得包含空格或控制字符", "contain no spaces or control characters")
    if "?" in value or "#" in value:
        raise refuse("不得带查询串或片段（? 或 #）", "be a URL without a query or fragment")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise refuse("格式不正确", "be a well-formed URL") from None
    if "@" in parts.netloc:
        raise refuse("不得包含用户名或口令", "have no user name or password")
    if not parts.hostname:
        raise refuse("须包含主机名", "name a host")
    return value.rstrip("/")


def qr_text(public_url: str, token: str) -> str:
    """The text a certificate's QR carries: ``{public_url}/v#{digits}``."""
    base = public_url.rstrip("/")
    if not base.startswith(("https://", "http://")) or "#" in base or "?" in base:
        check_public_url(public_url)  # raises, saying what is wrong
    return f"{base}{_VERIFY_PATH}{jws_to_numeric(token)}"


@dataclass(frozen=True)
class QrCode:
    """An encoded QR symbol. ``modules`` is the matrix without quiet zone, ``True`` = dark."""

    text: str
    version: int
    ec_level: str
    modules: tuple[tuple[bool, ...], ...]

    @property
    def size(self) -> int:
        """Modules a side, without quiet zone: ``17 + 4 * version``."""
        return len(self.modules)


def _check_ec_level(ec_level: str) -> None:
    if ec_level not in EC_LEVELS:
        raise DataError(f"ECC level must be one of {', '.join(EC_LEVELS)}, found {ec_level!r}")


def _create(text: str, ec_level: str) -> Image.Image:
    """The symbol as a mode "1" image, one pixel a module, without quiet zone."""
    _check_ec_level(ec_level)
    if not text:
        raise DataError("QR text must not be empty")
    data = text.encode("utf-8")
    if len(data) > MAX_TEXT_BYTES:
        raise DataError(
            f"QR text is {len(data)} bytes; no QR code holds more than {MAX_TEXT_BYTES} characters"
        )
    symbol = zint.Symbol()
    symbol.symbology = zint.Symbology.QRCODE
    # zint's default input mode (DATA, ECI 0) encodes the UTF-8 bytes as they are.
    symbol.option_1 = _ZINT_ECC[ec_level]
    symbol.warn_level = zint.WarningLevel.FAIL_ALL  # nothing may be silently degraded
    try:
        symbol.encode(data)
    except RuntimeError as exc:
        raise DataError(
            f"QR text of {len(data)} bytes does not fit any QR version at ECC level {ec_level}: "
            f"{exc}"
        ) from exc
    side = symbol.width
    stride = (side + 7) // 8
    rows = symbol.encoded_data  # zint's fixed-size array: a row of bits for each module row
    raw = rows.tobytes()
    row_bytes = len(raw) // len(rows)
    packed = b"".join([raw[at : at + stride] for at in range(0, side * row_bytes, row_bytes)])
    return Image.frombytes("1", (side, side), packed.translate(_ZINT_TO_PILLOW))


def _version_of(side: int) -> int:
    # ISO/IEC 18004 §6.3.1: a version-v symbol is 17 + 4v modules a side.
    return (side - 17) // 4


def encode(text: str, *, ec_level: str = "M", max_version: int = MAX_VERSION) -> QrCode:
    """Encode ``text``; raise :class:`DataError` if it needs a version above ``max_version``."""
    if not 1 <= max_version <= MAX_VERSION:
        raise DataError(f"max_version must be between 1 and {MAX_VERSION}, found {max_version}")
    image = _create(text, ec_level)
    side = image.width
    version = _version_of(side)
    if version > max_version:
        raise DataError(
            f"QR text of {len(text)} characters needs version {version} at ECC level {ec_level}, "
            f"at most {max_version} allowed"
        )
    cells = image.convert("L").tobytes()
    modules = tuple(
        tuple(value == 0 for value in cells[row : row + side])
        for row in range(0, side * side, side)
    )
    return QrCode(text=text, version=version, ec_level=ec_level, modules=modules)


def qr_version(text: str, ec_level: str = "M") -> int:
    """The smallest QR version that holds ``text`` at ``ec_level``."""
    return _version_of(_create(text, ec_level).width)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    # PNG §5.3: length, type, data, CRC-32 of type and data.
    return b"".join(
        (len(data).to_bytes(4, "big"), kind, data, zlib.crc32(kind + data).to_bytes(4, "big"))
    )


def render_png(text: str, *, scale: int = 6, ec_level: str = "M") -> bytes:
    """A 1-bit greyscale PNG of the QR code, ``scale`` pixels a module, with the 4-module
    quiet zone.

    The PNG is written here, not by Pillow's PNG plugin: Pillow widens the one-pixel-a-module
    image to ``scale`` pixels a module and packs it to bits, one row for each module row, and
    the image data repeats each row ``scale`` times (filter type 0). Only 1/``scale`` of the
    pixels are ever packed, which makes the PNG 4x cheaper than Pillow's own save of the
    scaled image, pixel for pixel the same.
    """
    if not 1 <= scale <= MAX_SCALE:
        raise DataError(f"scale must be between 1 and {MAX_SCALE} pixels a module, found {scale}")
    symbol = _create(text, ec_level)
    modules = Image.new("1", (symbol.width + 2 * QUIET_ZONE,) * 2, 1)
    modules.paste(symbol, (QUIET_ZONE, QUIET_ZONE))
    side = modules.width * scale
    if scale > 1:
        modules = modules.resize((side, modules.height), Image.Resampling.NEAREST)
    packed = modules.tobytes()  # one row a module row, 1 = light, padded to whole bytes
    stride = len(packed) // modules.height
    scanlines = b"".join(
        [(b"\0" + packed[at : at + stride]) * scale for at in range(0, len(packed), stride)]
    )
    header = side.to_bytes(4, "big") * 2 + bytes((1, 0, 0, 0, 0))  # depth 1, greyscale
    return b"".join(
        (
            _PNG_SIGNATURE,
            _png_chunk(b"IHDR", header),
            # A QR code's PNG needs no strong compression: level 1 is 10x faster than 6.
            _png_chunk(b"IDAT", zlib.compress(scanlines, 1)),
            _png_chunk(b"IEND", b""),
        )
    )


def render_svg(text: str, *, ec_level: str = "M") -> str:
    """A standalone SVG of the QR code with the quiet zone; it scales to any size (viewBox).

    One path, one horizontal run of dark modules a sub-path, one unit a module.
    """
    code = encode(text, ec_level=ec_level)
    side = code.size + 2 * QUIET_ZONE
    runs: list[str] = []
    for y, row in enumerate(code.modules):
        x = 0
        while x < code.size:
            if not row[x]:
                x += 1
                continue
            start = x
            while x < code.size and row[x]:
                x += 1
            runs.append(f"M{start + QUIET_ZONE} {y + QUIET_ZONE}h{x - start}v1h-{x - start}z")
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {side} {side}" '
        f'shape-rendering="crispEdges" role="img" aria-label="QR code">'
        f'<rect width="{side}" height="{side}" fill="#fff"/>'
        f'<path fill="#000" d="{"".join(runs)}"/></svg>'
    )
