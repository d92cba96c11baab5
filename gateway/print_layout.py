"""The pieces a printed certificate's pages are drawn from: text that wraps, the QR code, the
'not valid' marks, the canvas.

The QR code is the project's own matrix (:func:`issuers.qr.encode`), drawn as vector squares so
that it scans at any resolution.

Both sizes (:mod:`gateway.print_pages`) lay out in the spirit of the national licences: the
licence name as the title, 副本 / COPY beneath it, 证照编号 and 证照标识 at the top, the QR code at
the top right, the public fields, then the issuing authority, the dates and the status at
printing time. A certificate that is not valid when printed carries a red diagonal mark on
every page (under the QR code, never over it); a card, too small for that, a level red stamp.

Deliberately not here: what a sheet holds (:mod:`gateway.print_sheet`), which fields are public
(:mod:`gateway.printing`), finding the font (:mod:`gateway.print_font`), any database or HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO

from reportlab.lib.colors import Color, HexColor
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from gateway.print_sheet import ELLIPSIS
from issuers.qr import QUIET_ZONE, QrCode

BLACK = HexColor("#000000")
GREY = HexColor("#555555")
RED = HexColor("#C00000")
WHITE = HexColor("#FFFFFF")
FRAME = HexColor("#8A1C1C")  # the dark red frame of the national licences
MARK_ALPHA = 0.22
NO_LINE_START = frozenset("，。、；：？！）》」』】,.;:?!)")  # punctuation no line begins with


@dataclass(frozen=True)
class Pen:
    """A font at a size on one canvas: measures and draws text."""

    canvas: Canvas
    font: str
    size: float
    color: Color = BLACK

    def at(self, size: float, color: Color | None = None) -> Pen:
        return Pen(self.canvas, self.font, size, color or self.color)

    def width(self, text: str) -> float:
        return stringWidth(text, self.font, self.size)

    def text(self, x: float, y: float, text: str, *, align: str = "left") -> None:
        c = self.canvas
        c.setFont(self.font, self.size)
        c.setFillColor(self.color)
        if align == "center":
            c.drawCentredString(x, y, text)
        elif align == "right":
            c.drawRightString(x, y, text)
        else:
            c.drawString(x, y, text)

    def wrap(self, text: str, width: float) -> list[str]:
        """``text`` in lines no wider than ``width``: broken between any two Chinese characters
        (never before closing punctuation), and at a space inside Latin text where there is
        one."""
        lines: list[str] = []
        for paragraph in text.split("\n"):
            line, used = "", 0.0  # widths add up: the PDF library applies no kerning
            for char in paragraph:
                step = self.width(char)
                if line and used + step > width:
                    cut = line.rfind(" ")
                    if char != " " and cut > 0 and line[cut + 1 :].isascii():
                        lines.append(line[:cut])
                        line = line[cut + 1 :]
                    elif char in NO_LINE_START and len(line) > 1:  # 避头: carry one character
                        lines.append(line[:-1])
                        line = line[-1]
                    else:
                        lines.append(line)
                        line = ""
                    used = self.width(line)
                    if char == " " and not line:
                        continue
                line += char
                used += step
            lines.append(line)
        return lines

    def fit(self, text: str, width: float, *, lines: int) -> list[str]:
        """At most ``lines`` wrapped lines, the last ending in … when text was left out."""
        wrapped = self.wrap(text, width)
        if len(wrapped) <= lines:
            return wrapped
        last = wrapped[lines - 1]
        while last and self.width(last + ELLIPSIS) > width:
            last = last[:-1]
        return [*wrapped[: lines - 1], last + ELLIPSIS]

    def shrink_to(self, text: str, width: float, *, smallest: float) -> Pen:
        """This pen, made smaller (not below ``smallest``) until ``text`` fits on one line."""
        size = self.size
        while size > smallest and stringWidth(text, self.font, size) > width:
            size -= 0.25
        return self.at(size)


def draw_qr(c: Canvas, code: QrCode, *, x: float, y: float, side: float) -> None:
    """The QR code with its quiet zone as a white square of ``side`` points, lower left at
    (x, y); one filled rectangle a horizontal run of dark modules, in module units (whole
    numbers: a short content stream, exact edges)."""
    count = code.size + 2 * QUIET_ZONE
    module = side / count
    c.saveState()
    c.setFillColor(WHITE)
    c.rect(x, y, side, side, stroke=0, fill=1)
    c.setFillColor(BLACK)
    c.translate(x + QUIET_ZONE * module, y + side - QUIET_ZONE * module)
    c.scale(module, -module)  # row 0 at the top, one unit a module
    path = c.beginPath()
    for row, cells in enumerate(code.modules):
        col = 0
        while col < code.size:
            if not cells[col]:
                col += 1
                continue
            start = col
            while col < code.size and cells[col]:
                col += 1
            path.rect(start, row, col - start, 1)
    c.drawPath(path, stroke=0, fill=1)
    c.restoreState()


def module_mm(code: QrCode, side_mm: float) -> float:
    """How wide one module of ``code`` prints in a square of ``side_mm`` millimetres."""
    return side_mm / (code.size + 2 * QUIET_ZONE)


def draw_mark(pen: Pen, mark: tuple[str, str], *, cx: float, cy: float, size: float) -> None:
    """The red diagonal 'not valid' mark, centred on (cx, cy)."""
    c = pen.canvas
    c.saveState()
    c.setFillAlpha(MARK_ALPHA)
    c.translate(cx, cy)
    c.rotate(30)
    big, small = pen.at(size, RED), pen.at(size * 0.45, RED)
    big.text(0, 0, mark[0], align="center")
    small.text(0, -size * 0.75, mark[1], align="center")
    c.restoreState()


def draw_stamp(pen: Pen, mark: tuple[str, str], *, right: float, top: float, size: float) -> float:
    """The 'not valid' mark as a level red stamp whose upper right corner is (right, top), for
    a page too small for the diagonal one; returns its width."""
    big, small = pen.at(size, RED), pen.at(size * 0.7, RED)
    pad = size * 0.6
    width = max(big.width(mark[0]), small.width(mark[1])) + 2 * pad
    height = size * 1.9 + 2 * pad
    c = pen.canvas
    c.setStrokeColor(RED)
    c.setLineWidth(0.8)
    c.roundRect(right - width, top - height, width, height, pad)
    big.text(right - width / 2, top - pad - size * 0.9, mark[0], align="center")
    small.text(right - width / 2, top - pad - size * 1.8, mark[1], align="center")
    return width


def new_canvas(
    out: IO[bytes], *, width_mm: float, height_mm: float, font: str, title: str
) -> Canvas:
    """A canvas of the given page size, reproducible (no creation time or random id), whose
    initial font is ``font`` (so no unembedded standard font is named)."""
    c = Canvas(
        out,
        pagesize=(width_mm * mm, height_mm * mm),
        invariant=1,
        pageCompression=1,
        initialFontName=font,  # type: ignore[arg-type]  # types-reportlab says float: wrong
        initialFontSize=10,
        lang="zh-CN",
    )
    c.setTitle(title)
    c.setCreator("ecert-gateway")
    return c
