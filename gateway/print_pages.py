"""The two printed sizes of a certificate: an A4 副本 and an ID-1 card (85.6 × 54 mm).

- **A4** (210 × 297 mm, portrait): the title, 副本 / COPY, then 证照编号, 证照标识, 持证主体, the
  issuing authority, validity and status beside a 50 mm QR code; the public fields below, as
  many pages as they need (a 4000-character 经营范围 takes two), each page framed and numbered.
- **card** (ISO/IEC 7810 ID-1, landscape), two pages to print back to back: the front with the
  title, holder, number, authority, validity, status and 证照标识 (long values shortened with
  …), and a red stamp when not valid; the back with a 46 mm QR code and how to verify it.

The QR code's modules print at least 0.49 mm wide on both sizes for a version-17 code (the QR
budget's largest, :mod:`issuers.qr`): 2.9 pixels a module at 150 dpi, and well above the
0.33 mm a phone camera resolves at reading distance.

Deliberately not here: what a sheet holds (:mod:`gateway.printing`) and font loading.
"""

from __future__ import annotations

import io
from collections.abc import Callable

from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from gateway.print_layout import FRAME, GREY, RED, Pen, draw_mark, draw_qr, draw_stamp, new_canvas
from gateway.print_sheet import Row, Sheet

A4 = (210.0, 297.0)
CARD = (85.6, 53.98)
A4_QR_MM = 50.0
CARD_QR_MM = 46.0
ROW_HEIGHT = 24.0  # points: a field's Chinese and English labels
LONG_LINES = 3  # a value longer than this many lines beside its label goes below it
MAX_PAGES = 6  # A4 pages: every value is bounded (print_layout.MAX_VALUE_CHARS)
NOTICE = (
    "本副本仅供参考，证照真伪与状态以扫描二维码核验的结果为准。",
    "This copy is for reference: scanning the QR code tells whether the certificate is genuine "
    "and valid.",
)
PERSONAL_NOTE = "个人信息不予打印 · personal details are not printed"

_Draw = Callable[[float], None]  # draws a line below the top y it is given
_Op = tuple[float, _Draw]  # a line's height and how to draw it


def _title(sheet: Sheet) -> str:
    return f"{sheet.title_zh}（副本）{sheet.identifier}"


def render_a4(sheet: Sheet, font: str) -> bytes:
    out = io.BytesIO()
    c = new_canvas(out, width_mm=A4[0], height_mm=A4[1], font=font, title=_title(sheet))
    pen = Pen(c, font, 10)
    left, right = 16 * mm, (A4[0] - 16) * mm
    pages = _paginate(_field_ops(sheet, pen, left, right), first_top=168 * mm, top=270 * mm)
    for number, page in enumerate(pages, start=1):
        _a4_frame(sheet, pen, number, len(pages))
        if number == 1:
            _a4_head(sheet, pen, left, right)
        else:
            pen.at(8, GREY).text(left, 276 * mm, f"{sheet.title_zh}（副本）续页 · continued")
            pen.at(8, GREY).text(right, 276 * mm, sheet.identifier, align="right")
        for top, draw in page:
            draw(top)
        c.showPage()
    c.save()
    return out.getvalue()


def _a4_frame(sheet: Sheet, pen: Pen, number: int, total: int) -> None:
    c = pen.canvas
    width, height = A4[0] * mm, A4[1] * mm
    if sheet.mark is not None:
        draw_mark(pen, sheet.mark, cx=width / 2, cy=height * 0.4, size=54)
    c.setStrokeColor(FRAME)
    c.setLineWidth(1.6)
    c.rect(10 * mm, 10 * mm, width - 20 * mm, height - 20 * mm)
    c.setLineWidth(0.4)
    c.rect(12 * mm, 12 * mm, width - 24 * mm, height - 24 * mm)
    small = pen.at(7, GREY)
    small.text(width / 2, 20 * mm, NOTICE[0], align="center")
    small.at(6).text(width / 2, 16.5 * mm, NOTICE[1], align="center")
    small.text(width - 16 * mm, 14 * mm, f"第 {number}/{total} 页 · page {number} of {total}",
               align="right")  # fmt: skip


def _a4_head(sheet: Sheet, pen: Pen, left: float, right: float) -> None:
    width = A4[0] * mm
    pen.at(26).shrink_to(sheet.title_zh, right - left, smallest=14).text(
        width / 2, 262 * mm, sheet.title_zh, align="center"
    )
    pen.at(14).text(width / 2, 252 * mm, "副本 · COPY", align="center")
    pen.at(9, GREY).text(width / 2, 246 * mm, sheet.title_en, align="center")
    qr_x, qr_top = right - A4_QR_MM * mm, 238 * mm
    draw_qr(pen.canvas, sheet.qr, x=qr_x, y=qr_top - A4_QR_MM * mm, side=A4_QR_MM * mm)
    caption = pen.at(8, GREY)
    centre = qr_x + A4_QR_MM * mm / 2
    caption.text(centre, qr_top - A4_QR_MM * mm - 4 * mm, "扫码核验 · scan to verify",
                 align="center")  # fmt: skip
    column = qr_x - 6 * mm - left
    status = f"{sheet.status_zh} · {sheet.status_en}（打印时 at printing, {sheet.printed_at}）"
    if sheet.mark is not None:  # also level, not only the diagonal mark: read aloud and copied
        status = f"{sheet.mark[0]} {sheet.mark[1]}：{status}"
    items = (
        ("证照编号", "Licence number", sheet.number, 12.0),
        ("证照标识", "Licence identifier", sheet.identifier, 9.0),
        (sheet.holder.label_zh, sheet.holder.label_en, sheet.holder.value, 11.0),
        ("颁发机构", "Issuing authority", f"{sheet.issuer_name}（{sheet.issuer_code}）", 10.0),
        ("有效期", "Validity", sheet.validity, 10.0),
        ("证照状态", "Status", status, 9.0),
    )
    y = 238 * mm
    for zh, en, value, size in items:
        pen.at(7.5, GREY).text(left, y - 7.5, f"{zh} {en}")
        value_pen = pen.at(size, RED if zh == "证照状态" and sheet.mark else None)
        if zh == "证照标识":  # one line, so that it can be read and copied whole
            value_pen = value_pen.shrink_to(value, column, smallest=5)
        lines = value_pen.fit(value, column, lines=2)
        for n, line in enumerate(lines):
            value_pen.text(left, y - 9 - (n + 1) * value_pen.size * 1.2, line)
        y -= 12 + len(lines) * value_pen.size * 1.2 + 5


def _field_ops(sheet: Sheet, pen: Pen, left: float, right: float) -> list[_Op]:
    """One op a line: a short value beside its label, a long one (经营范围) below it, smaller
    and across the page, so that 4000 characters take two pages, not four."""
    c = pen.canvas
    label_width = 42 * mm
    short_pen, long_pen = pen.at(10.5), pen.at(8.5)
    ops: list[_Op] = [(6, lambda top: _rule(c, left, right, top - 2))]
    for row in sheet.rows:
        lines = short_pen.wrap(row.value, right - left - label_width)
        if len(lines) <= LONG_LINES:
            leading = short_pen.size * 1.45
            for n, line in enumerate(lines):
                ops.append((leading, _field_line(pen, short_pen, row, n, line, left, label_width)))
            ops.append((max(4.0, ROW_HEIGHT - len(lines) * leading), lambda top: None))
            continue
        ops.append((15, _field_label(pen, row, left)))
        for line in long_pen.wrap(row.value, right - left):
            ops.append((long_pen.size * 1.35, _field_line(pen, long_pen, row, 1, line, left, 0)))
        ops.append((4, lambda top: None))
    ops.append((6, lambda top: _rule(c, left, right, top - 2)))
    sign = f"颁发机构 {sheet.issuer_name}　颁发日期 {sheet.issue_date}"
    ops.append((16, lambda top: pen.at(10).text(right, top - 12, sign, align="right")))
    return ops


def _field_label(pen: Pen, row: Row, left: float) -> _Draw:
    def draw(top: float) -> None:
        pen.at(10).text(left, top - 10, row.label_zh)
        zh_width = pen.at(10).width(row.label_zh)
        pen.at(6.5, GREY).text(left + zh_width + 4, top - 10, row.label_en)

    return draw


def _field_line(
    pen: Pen, value_pen: Pen, row: Row, n: int, line: str, left: float, label_width: float
) -> _Draw:
    def draw(top: float) -> None:
        base = top - value_pen.size
        if n == 0:
            pen.at(10).text(left, base, row.label_zh)
            pen.at(6.5, GREY).text(left, base - 8.5, row.label_en)
        value_pen.text(left + label_width, base, line)

    return draw


def _rule(c: Canvas, left: float, right: float, y: float) -> None:
    c.setStrokeColor(GREY)
    c.setLineWidth(0.3)
    c.line(left, y, right, y)


def _paginate(ops: list[_Op], *, first_top: float, top: float) -> list[list[tuple[float, _Draw]]]:
    """The ops placed on pages: (top y, draw) for each; the page's content ends 26 mm up."""
    bottom = 26 * mm
    pages: list[list[tuple[float, _Draw]]] = [[]]
    y = first_top
    for height, draw in ops:
        if y - height < bottom:
            if len(pages) == MAX_PAGES:
                break  # not reached: values are bounded; the frame still says page n of N
            pages.append([])
            y = top
        pages[-1].append((y, draw))
        y -= height
    return pages


def render_card(sheet: Sheet, font: str) -> bytes:
    out = io.BytesIO()
    c = new_canvas(out, width_mm=CARD[0], height_mm=CARD[1], font=font, title=_title(sheet))
    pen = Pen(c, font, 7)
    _card_front(sheet, pen)
    c.showPage()
    _card_back(sheet, pen)
    c.showPage()
    c.save()
    return out.getvalue()


def _card_frame(pen: Pen) -> None:
    c = pen.canvas
    width, height = CARD[0] * mm, CARD[1] * mm
    c.setStrokeColor(FRAME)
    c.setLineWidth(0.8)
    c.roundRect(1.5 * mm, 1.5 * mm, width - 3 * mm, height - 3 * mm, 3 * mm)


def _card_front(sheet: Sheet, pen: Pen) -> None:
    _card_frame(pen)
    left, width = 5 * mm, (CARD[0] - 10) * mm
    top = CARD[1] * mm - 8.5 * mm
    title_width = width
    if sheet.mark is not None:
        stamp = draw_stamp(pen, sheet.mark, right=left + width, top=top + 5 * mm, size=6.5)
        title_width -= stamp + 2 * mm
    title = pen.at(12).shrink_to(sheet.title_zh + "（副本）", title_width, smallest=6)
    title.text(left, top, sheet.title_zh + "（副本）")
    pen.at(5, GREY).text(left, top - 4 * mm, f"{sheet.title_en} · COPY")
    y = top - 8.5 * mm
    items = (
        (sheet.holder.label_zh, sheet.holder.value, 2),
        ("证照编号", sheet.number, 1),
        ("颁发机构", f"{sheet.issuer_name}（{sheet.issuer_code}）", 2),
        ("有效期", sheet.validity, 1),
        ("状态", f"{sheet.status_zh} {sheet.status_en}（打印时 {sheet.printed_at}）", 1),
    )
    label_width = 12 * mm
    for label, value, most in items:
        pen.at(5, GREY).text(left, y, label)
        value_pen = pen.at(6.5, RED if label == "状态" and sheet.mark else None)
        for n, line in enumerate(value_pen.fit(value, width - label_width, lines=most)):
            value_pen.text(left + label_width, y - n * 7.5, line)
            bottom = y - n * 7.5
        y = bottom - 9
    pen.at(4.5, GREY).text(left, 6.8 * mm, "证照标识 Licence identifier")
    pen.at(6).shrink_to(sheet.identifier, width, smallest=3.5).text(
        left, 3.8 * mm, sheet.identifier
    )


def _card_back(sheet: Sheet, pen: Pen) -> None:
    _card_frame(pen)
    side = CARD_QR_MM * mm
    x, y = 3.5 * mm, (CARD[1] * mm - side) / 2
    draw_qr(pen.canvas, sheet.qr, x=x, y=y, side=side)
    left = x + side + 2.5 * mm
    width = CARD[0] * mm - 4 * mm - left
    top = CARD[1] * mm - 10 * mm
    pen.at(9).text(left, top, "扫码核验")
    pen.at(6, GREY).text(left, top - 3.5 * mm, "Scan to verify")
    y = top - 9 * mm
    for text, size in ((NOTICE[0], 5.5), (NOTICE[1], 4.5)):
        for line in pen.at(size).fit(text, width, lines=6):
            pen.at(size, GREY).text(left, y, line)
            y -= size * 1.3
        y -= 2 * mm
    status = pen.at(6, RED if sheet.mark else None)
    shown = sheet.mark[0] if sheet.mark else f"{sheet.status_zh} {sheet.status_en}"
    status.shrink_to(shown, width, smallest=4).text(left, 6 * mm, shown)
