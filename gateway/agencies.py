"""City initialisation and agencies; each agency starts with an all-scope API key.

API keys themselves (``ek_<id>_<secret>``: made, listed, revoked, rotated, checked) live in
:mod:`gateway.api_keys`; the names below are kept for the callers that import them from here.
"""

from __future__ import annotations

import secrets

from sqlalchemy import select

from gateway import audit, federation, keystore, publicurl
from gateway.api_keys import SCOPES, Principal, authenticate, new_api_key
from gateway.core import Gateway
from gateway.errors import Conflict
from gateway.models import AgencyRow, CityRow, FederationRow
from gateway.state import combined, mark_changed
from issuers.qr import check_public_url
from issuers.regions import RegionTable
from issuers.validation import validate_uscc
from trust.errors import FieldError

__all__ = ["SCOPES", "Principal", "add_agency", "authenticate", "init_city", "new_api_key"]
MAX_NAME = 128


def init_city(gw: Gateway, *, code: str, name: str, public_url: str | None, actor: str) -> CityRow:
    """Create the city row with its public URL (``None``: a local gateway's default).

    Idempotent for the same code; a different code is refused, and so is a different public
    URL: only :func:`gateway.publicurl.set_public_url` changes it (issue 8: one city, one URL).
    """
    region = RegionTable.load().lookup(code)
    name = name.strip() or region.name_zh
    wanted = None if public_url is None else check_public_url(public_url)
    with gw.transaction() as session:
        city = session.get(CityRow, 1)
        if city is not None:
            if city.code != code:
                raise Conflict(
                    f"this data directory already serves city {city.code} {city.name}, "
                    f"not {code} {name}"
                )
            if wanted is not None and wanted != city.public_url:
                raise publicurl.differs(city.public_url, wanted)
            return city
        city = CityRow(
            id=1,
            code=code,
            name=name,
            public_url=wanted or publicurl.DEFAULT_PUBLIC_URL,
            created_at=gw.clock(),
        )
        session.add(city)
        audit.record(
            session, at=gw.clock(), actor=actor, action="city.init", subject=code, name=name
        )
        return city


def city_identity(gw: Gateway) -> tuple[str, str, str]:
    """This city's name, code and public URL, for its pages."""
    with gw.sessions() as session:
        city = gw.city(session)
        return city.name, city.code, city.public_url


def add_agency(
    gw: Gateway,
    *,
    name: str,
    uscc: str,
    types: list[str],
    region_code: str | None = None,
    alg: str = "ES256",
    actor: str,
) -> tuple[AgencyRow, str]:
    """Register an issuing agency with a first signing key and an all-scope API key."""
    errors = []
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        errors.append(
            {
                "field": "name",
                "code": "length",
                "message": f"机构名称须为 1–{MAX_NAME} 个字符",
                "message_en": f"name must be 1 to {MAX_NAME} characters, found {len(name)}",
            }
        )
    try:
        uscc = validate_uscc(uscc, allowlist=gw.settings.allowlist)
    except FieldError as exc:
        errors.extend(exc.errors)
    known = {t.code for t in gw.types}
    bad = [t for t in types if t not in known]
    if bad or not types:
        errors.append(
            {
                "field": "types",
                "code": "unknown_type",
                "message": f"证照类型无效：{bad or '空'}；可选：{sorted(known)}",
                "message_en": f"unknown credential types {bad or '(none given)'}; "
                f"expected some of {sorted(known)}",
            }
        )
    if errors:
        raise FieldError(errors)
    now = gw.clock()
    with gw.transaction() as session:
        city = gw.city(session)
        region = region_code or city.code
        RegionTable.load().lookup(region)
        if session.scalar(select(AgencyRow).where(AgencyRow.uscc == uscc)) is not None:
            raise Conflict(f"an agency with USCC {uscc} already exists")
        agency = AgencyRow(
            id=f"ag-{secrets.token_hex(5)}",
            name=name,
            uscc=uscc,
            region_code=region,
            types=sorted(set(types)),
            created_at=now,
        )
        session.add(agency)
        session.flush()
        keystore.create_key(gw, session, agency_id=agency.id, alg=alg, now=now)
        if session.get(FederationRow, 1) is not None:  # its leaf configuration's signing key
            federation.ensure_keys(gw, session, now)
        _, opened = gw.slots.open_list(session, agency.id, city.public_url, now)
        api_key = new_api_key(session, agency_id=agency.id, scopes=SCOPES, now=now)
        audit.record(
            session, at=now, actor=actor, action="agency.add", subject=agency.id, types=agency.types
        )
        change = combined(opened, mark_changed(session))
    gw.live.changed(change)
    return agency, api_key
