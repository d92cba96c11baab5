"""City initialisation, agencies and their API keys.

API keys look like ``ek_<id>_<secret>``: the id finds the row, the secret is compared by its
SHA-256 (the secret is 256 random bits, so a slow hash adds nothing). A key is shown once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway import audit, federation, keystore, publicurl
from gateway.core import Gateway
from gateway.errors import Conflict, Unauthorised
from gateway.models import AgencyRow, ApiKeyRow, CityRow, FederationRow
from gateway.state import combined, mark_changed
from issuers.qr import check_public_url
from issuers.regions import RegionTable
from issuers.validation import validate_uscc
from trust.errors import DataError, FieldError

SCOPES = ("issue", "status", "read")
MAX_NAME = 128


@dataclass(frozen=True)
class Principal:
    agency_id: str
    key_id: str
    scopes: frozenset[str]

    @property
    def actor(self) -> str:
        return f"apikey:{self.key_id}"


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


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


def new_api_key(session: Session, *, agency_id: str, scopes: Iterable[str], now: int) -> str:
    wanted = sorted(set(scopes))
    unknown = [s for s in wanted if s not in SCOPES]
    if unknown or not wanted:
        raise DataError(f"API key scopes must be a non-empty subset of {SCOPES}, found {wanted}")
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    session.add(
        ApiKeyRow(
            id=key_id,
            agency_id=agency_id,
            secret_hash=_digest(secret),
            scopes=wanted,
            created_at=now,
            revoked_at=None,
        )
    )
    return f"ek_{key_id}_{secret}"


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


def authenticate(session: Session, presented: str) -> Principal:
    """Check an ``ek_<id>_<secret>`` API key; any failure is the same ``Unauthorised``."""
    parts = presented.split("_", 2)
    if len(parts) != 3 or parts[0] != "ek" or len(presented) > 200:
        raise Unauthorised("expected an API key of the form ek_<id>_<secret>")
    row = session.get(ApiKeyRow, parts[1])
    if (
        row is None
        or row.revoked_at is not None
        or not hmac.compare_digest(row.secret_hash, _digest(parts[2]))
    ):
        raise Unauthorised("unknown or revoked API key")
    return Principal(agency_id=row.agency_id, key_id=row.id, scopes=frozenset(row.scopes))
