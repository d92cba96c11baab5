"""The Chinese font printed certificates embed: where it is found, and loading it once.

The font is ``ECERT_PDF_FONT`` (a TrueType ``.ttf`` or collection ``.ttc``, whose first face is
used) or, without that setting, the first of :data:`DEBIAN_FONTS` that exists: Debian's
``fonts-wqy-microhei`` (文泉驿微米黑) or ``fonts-wqy-zenhei``. No PyPI package ships a maintained
Simplified Chinese font, so it comes from the system's package manager.

The PDF library (ReportLab) embeds TrueType outlines only, as a subset of the glyphs used:
OpenType fonts with PostScript (CFF) outlines, such as Debian's ``fonts-noto-cjk``, are refused
with a message that says so. A font missing or unusable is :class:`PrintUnavailable`, a 409 in
the house shape naming the package to install, never a 5xx.

Deliberately not here: laying out a page (:mod:`gateway.print_layout`) and reading credentials
(:mod:`gateway.printing`).
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

from gateway.errors import Conflict
from gateway.settings import Settings

FONT_PACKAGE = "fonts-wqy-microhei"
FONT_SETTING = "ECERT_PDF_FONT"
# Where Debian's packages put their TrueType CJK fonts, best first.
DEBIAN_FONTS = (
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
)
MAX_FONT_BYTES = 64 * 1024 * 1024  # WenQuanYi Micro Hei is 5 MB, the largest CJK TTCs ~40 MB
# Characters every printed certificate shows: a font without them cannot print one.
PROBE = "营业执照副本证照标识颁发机构有效期撤销"
HOW = (
    f"安装 Debian 软件包 {FONT_PACKAGE}（apt-get install {FONT_PACKAGE}），"
    f"或以 {FONT_SETTING} 指定一个 TrueType 中文字体文件",
    f"install the Debian package {FONT_PACKAGE} (apt-get install {FONT_PACKAGE}), or set "
    f"{FONT_SETTING} to a TrueType Chinese font file",
)

_lock = threading.Lock()
_registered: dict[tuple[str, int, int], str] = {}  # (path, size, mtime) → ReportLab font name


class PrintUnavailable(Conflict):
    """The gateway cannot print: no usable Chinese font. Says which package to install."""

    def __init__(self, message_zh: str, message_en: str) -> None:
        super().__init__(message_en)
        self.message_zh = message_zh
        self.message_en = message_en


def _unusable(zh: str, en: str) -> PrintUnavailable:
    return PrintUnavailable(
        f"无法打印证照：{zh}；请{HOW[0]}", f"cannot print certificates: {en}; {HOW[1]}"
    )


def font_path(settings: Settings) -> Path:
    """The font file to embed, or :class:`PrintUnavailable` saying what to install."""
    named = settings.pdf_font
    if named is not None:
        if not named.is_file():
            raise _unusable(
                f"{FONT_SETTING} 指向的字体文件不存在（{named.name}）",
                f"{FONT_SETTING} names a font file that does not exist ({named.name})",
            )
        return named
    found = next((path for path in DEBIAN_FONTS if path.is_file()), None)
    if found is None:
        raise _unusable(
            "服务器上没有中文字体", f"no Chinese font on this server (looked for {FONT_PACKAGE})"
        )
    return found


def missing_font_warning(settings: Settings) -> str | None:
    """What ``ecert serve`` logs at start-up when certificates cannot be printed, else None."""
    try:
        load_font(settings)
    except PrintUnavailable as exc:
        return f"{exc.message_zh} · {exc.message_en}"
    return None


def load_font(settings: Settings) -> str:
    """The ReportLab name of the configured font, registered on first use (once a file)."""
    path = font_path(settings)
    try:
        stat = path.stat()
    except OSError as exc:
        raise _unusable("字体文件无法读取", f"the font file cannot be read: {exc}") from exc
    if stat.st_size > MAX_FONT_BYTES:
        raise _unusable(
            f"字体文件过大（上限 {MAX_FONT_BYTES} 字节）",
            f"expected a font file of at most {MAX_FONT_BYTES} bytes, found {stat.st_size}",
        )
    key = (str(path), stat.st_size, int(stat.st_mtime))
    with _lock:
        name = _registered.get(key)
        if name is None:
            name = _register(path, key)
            _registered[key] = name
    return name


def _register(path: Path, key: tuple[str, int, int]) -> str:
    # Imported here: the PDF library loads only when something is printed.
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFError, TTFont

    name = "ecert-cjk-" + hashlib.sha256(repr(key).encode()).hexdigest()[:12]
    try:
        font = TTFont(name, str(path), subfontIndex=0)
    except (TTFError, OSError, ValueError) as exc:
        raise _unusable(
            f"字体文件不是可嵌入的 TrueType 字体（{path.name}）",
            f"expected a TrueType font with glyph outlines (.ttf/.ttc; OpenType CFF fonts such "
            f"as Noto CJK are not supported), found {path.name}: {exc}",
        ) from exc
    missing = [c for c in PROBE if ord(c) not in font.face.charToGlyph]
    if missing:
        raise _unusable(
            f"字体缺少中文字形（{path.name}）",
            f"expected a font with Chinese glyphs, found {path.name} without {''.join(missing)}",
        )
    pdfmetrics.registerFont(font)
    return name
