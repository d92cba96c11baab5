"""Printable certificates: an agency's credential as a PDF, A4 副本 or card size.

:func:`print_pdf` reads one credential of the calling agency (another agency's answers 404, as
if it did not exist), keeps what may be printed and lays it out (:mod:`gateway.print_pages`)
with a Chinese font embedded as a subset (:mod:`gateway.print_font`).

What is printed: the licence name, 副本 / COPY, 证照编号, 证照标识, the issuing agency's name and
code (USCC), the issue date and validity, the status at printing time, the credential's own QR
code (:func:`gateway.credential_views.qr_text`, drawn from :func:`issuers.qr.encode`), and the
type's public fields (``qr`` and ``public``). Of a personal type (e-ID, driving licence, 无房证明)
nothing the type marks ``personal`` is printed, not even the holder's name: the QR code proves
the certificate, and its holder shows the rest with their own consent (reference codes). Such a
type's 证照编号 is its licence number when it has one, never the holder's ID number.

A credential that is not valid when printed (suspended, revoked or otherwise ended, expired, or
not yet valid) is printed with a red diagonal mark saying so on every page, and its status in
red: an agency may need a copy of an ended licence for its files, and the QR code on any copy
verifies to the current status anyway.

Deliberately not here: HTTP (:mod:`gateway.routes.credentials`), the CLI (:mod:`cli.print_cmd`),
and a kiosk's printing for holders (which would need the holder's consent flow).
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

from gateway import issuance
from gateway import status as status_service
from gateway.clock import CHINA_TZ
from gateway.core import Gateway
from gateway.errors import Forbidden, NotFound
from gateway.metadata import NUMBER_FIELDS
from gateway.models import AgencyRow, CredentialRow
from gateway.print_font import load_font
from gateway.print_sheet import Row, Sheet, clean
from issuers.credential_types import CredentialType
from issuers.qr import encode
from issuers.status_rules import STATUS_NAMES, VALID
from trust.errors import FieldError

SIZES = ("a4", "card")
MEDIA_TYPE = "application/pdf"
QR_EC_LEVEL = "M"  # as the PNG and SVG images (issuers.qr.render_png)
_render_lock = threading.Lock()  # the PDF library's font objects keep per-document state


def check_size(size: object) -> str:
    """``size`` if it is one of :data:`SIZES`, else a field error saying what was found."""
    if size not in SIZES:
        shown = repr(size)[:40]
        raise FieldError.single(
            "size",
            "enum",
            f"纸张尺寸须为 a4 或 card，实际为 {shown}",
            f"size must be one of a4, card; found {shown}",
        )
    return str(size)


def filename(credential_id: str, size: str) -> str:
    """The PDF's file name for Content-Disposition (ASCII: ids are hex)."""
    return f"ecert-{credential_id}-{size}.pdf"


def print_pdf(gw: Gateway, *, agency_id: str | None, credential_id: str, size: str = "a4") -> bytes:
    """The credential ``credential_id`` of agency ``agency_id`` as a PDF of ``size``.

    ``agency_id`` None: any agency's, for the local administrator's CLI only (as
    :func:`gateway.status.get_credential`); the API always passes the caller's agency."""
    size = check_size(size)
    font = load_font(gw.settings)  # before any read: a gateway without a font says so first
    now = gw.clock()
    with gw.sessions() as session:
        try:
            row = status_service.get_credential(session, credential_id, agency_id)
        except Forbidden:  # another agency's: not even whether it exists
            raise NotFound(f"no credential {credential_id!r}") from None
        agency = session.get(AgencyRow, row.agency_id)
        if agency is None:  # a foreign key holds it: only a damaged database gets here
            raise LookupError(f"credential {row.id} names agency {row.agency_id}, not found")
        sheet = build_sheet(
            row, agency, gw.types.get(row.type), qr_text=issuance.qr_text_for(gw, row), now=now
        )
    from gateway.print_pages import render_a4, render_card  # the PDF library, on first print

    with _render_lock:
        return render_a4(sheet, font) if size == "a4" else render_card(sheet, font)


def _day(ts: int) -> str:
    return datetime.fromtimestamp(ts, CHINA_TZ).date().isoformat()


def _minute(ts: int) -> str:
    return datetime.fromtimestamp(ts, CHINA_TZ).strftime("%Y-%m-%d %H:%M")


# What the mark says of each status that is not valid (issuers.status_rules' codes).
MARKS = {
    "02": "已暂扣", "03": "已撤销", "04": "已注销", "05": "已失效", "06": "已办理转出",
    "07": "已吊销", "99": "非有效状态",
}  # fmt: skip


def _mark(row: CredentialRow, now: int) -> tuple[str, str] | None:
    if row.status_code != VALID:
        en = STATUS_NAMES[row.status_code][1].upper()
        return (f"{MARKS.get(row.status_code, '非有效状态')} · 本副本无效", f"{en} · NOT VALID")
    if row.valid_until is not None and row.valid_until < now:
        return ("已过期 · 本副本无效", "EXPIRED · NOT VALID")
    if row.valid_from > now:
        return ("尚未生效 · 本副本暂无效", "NOT YET VALID")
    return None


def _public_rows(ctype: CredentialType, subject: dict[str, Any]) -> tuple[Row, ...]:
    return tuple(
        Row(spec.label_zh, spec.label_en, clean(subject[spec.name]))
        for spec in ctype.public_fields  # qr and public only: never a personal field
        if subject.get(spec.name) not in (None, "")
    )


def _number(ctype: CredentialType, row: CredentialRow) -> str:
    public = {spec.name for spec in ctype.public_fields}
    for name in NUMBER_FIELDS:  # as gateway.metadata's 证照编号, but only a public one
        if name in public and row.subject.get(name):
            return clean(row.subject[name])
    if not ctype.personal:
        return clean(row.holder_code)  # a business licence's number is its USCC
    return row.identifier.rsplit(".", 3)[1]  # the 流水号 of the 证照标识 (GB/T 36904)


def build_sheet(
    row: CredentialRow, agency: AgencyRow, ctype: CredentialType, *, qr_text: str, now: int
) -> Sheet:
    """What the printed certificate shows (pure: the caller reads the rows)."""
    if ctype.personal:
        holder = Row("持证主体", "Holder", "个人信息不予打印 · personal details are not printed")
    else:
        holder = Row("持证主体", "Holder", clean(row.holder_name))
    until = _day(row.valid_until) if row.valid_until is not None else "长期 · no expiry"
    zh, en = STATUS_NAMES[row.status_code]
    return Sheet(
        title_zh=ctype.name_zh,
        title_en=ctype.name_en,
        number=_number(ctype, row),
        identifier=row.identifier,
        holder=holder,
        rows=() if ctype.personal else _public_rows(ctype, row.subject),
        issuer_name=clean(agency.name),
        issuer_code=agency.uscc,
        issue_date=_day(row.issued_at),
        validity=f"{_day(row.valid_from)} 至 {until}",
        status_zh=zh,
        status_en=en,
        mark=_mark(row, now),
        printed_at=_minute(now),
        qr=encode(qr_text, ec_level=QR_EC_LEVEL),
    )
