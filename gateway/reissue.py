"""Re-issue live certificates under a fresh key after their key was compromised.

GB/T 36904: a re-issued licence keeps its 流水号 and takes the next 版本号, so its 证照标识
changes only in the version and check character. The old record is closed as 05 失效 with the
reason, and its status list bit set to INVALID.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence

from sqlalchemy import insert

from gateway import keystore
from gateway.core import Gateway
from gateway.errors import Conflict
from gateway.issuance import claims_for
from gateway.models import AgencyRow, CredentialRow, StatusChangeRow, StatusListRow
from gateway.status import status_bit
from trust import statuslist
from trust.claims import CREDENTIAL_TYP
from trust.identifiers import LicenceIdentifier
from trust.jws import sign_compact

REISSUE_CODE = "05"


def reissue(
    gw: Gateway, *, credential_ids: Sequence[str], actor: str, reason: str
) -> list[CredentialRow]:
    """One transaction: new rows under the agency's active key, old rows closed."""
    now = gw.clock()
    new_rows: list[dict[str, object]] = []
    with gw.transaction() as session:
        for cid in credential_ids:
            old = session.get(CredentialRow, cid)
            if old is None or old.status_code not in keystore.LIVE_CODES:
                raise Conflict(f"credential {cid} is not live and cannot be re-issued")
            agency = session.get(AgencyRow, old.agency_id)
            assert agency is not None  # foreign key
            key_row = keystore.active_key(session, old.agency_id)
            key = gw.signing_key(key_row)
            ctype = gw.types.get(old.type)
            version = f"{int(old.version) + 1:03d}"
            ident = LicenceIdentifier(
                type_code=ctype.type_code,
                agency_code=agency.uscc,
                serial=old.serial,
                version=version,
            )
            ((list_row, idx),) = gw.slots.allocate(
                session,
                agency_id=old.agency_id,
                count=1,
                public_url=gw.city(session).public_url,
                now=now,
            )
            claims = claims_for(
                ctype,
                old.subject,
                jti=f"{old.serial}.{version}",
                now=now,
                valid_from=old.valid_from if old.valid_from > now else None,
                valid_until=old.valid_until,
                idx=idx,
                uri=list_row.uri,
            )
            token = sign_compact(claims, key, typ=CREDENTIAL_TYP, kid=key.public.short_kid)
            new_rows.append(
                {
                    "id": secrets.token_hex(10),
                    "agency_id": old.agency_id,
                    "type": old.type,
                    "identifier": str(ident),
                    "serial": old.serial,
                    "version": version,
                    "subject": old.subject,
                    "holder_code": old.holder_code,
                    "holder_name": old.holder_name,
                    "token": token,
                    "token_hash": hashlib.sha256(token.encode()).hexdigest(),
                    "kid": key_row.kid,
                    "issued_at": now,
                    "valid_from": old.valid_from,
                    "valid_until": old.valid_until,
                    "status_code": old.status_code,
                    "status_list_id": list_row.id,
                    "status_idx": idx,
                    "batch_ref": None,
                    "supersedes": old.id,
                }
            )
            old_list = session.get(StatusListRow, old.status_list_id, with_for_update=True)
            assert old_list is not None
            bits = statuslist.StatusList(bits=old_list.bits, size=old_list.size, data=old_list.data)
            bits.set(old.status_idx, status_bit(REISSUE_CODE))
            old_list.data = bytes(bits.data)
            old_list.updated_at = now
            session.add(
                StatusChangeRow(
                    credential_id=old.id,
                    from_code=old.status_code,
                    to_code=REISSUE_CODE,
                    reason=reason[:500],
                    actor=actor,
                    at=now,
                )
            )
            old.status_code = REISSUE_CODE
        if new_rows:
            session.execute(insert(CredentialRow), new_rows)
            # a suspended original stays suspended under its new identifier
            for row in new_rows:
                if row["status_code"] == "02":
                    lst = session.get(StatusListRow, row["status_list_id"])
                    assert lst is not None
                    bits = statuslist.StatusList(bits=lst.bits, size=lst.size, data=lst.data)
                    bits.set(int(str(row["status_idx"])), statuslist.SUSPENDED)
                    lst.data = bytes(bits.data)
        gw.bump(session)
        ids = [str(r["id"]) for r in new_rows]
        result = [session.get(CredentialRow, i) for i in ids]
    return [r for r in result if r is not None]
