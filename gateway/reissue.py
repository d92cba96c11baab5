"""Re-issue live certificates under a fresh key after their key was compromised.

GB/T 36904: a re-issued licence keeps its 流水号 and takes the next 版本号, so its 证照标识
changes only in the version and check character. The old record is closed as 05 失效 with the
reason, and its status list bit set to INVALID. A suspended original stays suspended.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert

from gateway import audit, keystore
from gateway.core import Gateway
from gateway.errors import Conflict
from gateway.issuance import mint
from gateway.models import AgencyRow, CredentialRow
from gateway.state import StateChange, combined, mark_changed
from gateway.status import record_change, set_status_bit

REISSUE_CODE = "05"


def reissue(
    gw: Gateway, *, credential_ids: Sequence[str], actor: str, reason: str
) -> list[CredentialRow]:
    """One transaction: new rows under the agency's active key, old rows closed."""
    now = gw.clock()
    new_rows: list[dict[str, Any]] = []
    opened: StateChange | None = None
    with gw.transaction() as session:
        public_url = gw.city(session).public_url
        for cid in credential_ids:
            old = session.get(CredentialRow, cid, with_for_update=True, populate_existing=True)
            if old is None or old.status_code not in keystore.LIVE_CODES:
                raise Conflict(f"credential {cid} is not live and cannot be re-issued")
            agency = session.get(AgencyRow, old.agency_id)
            assert agency is not None  # foreign key
            key_row = keystore.active_key(session, old.agency_id)
            (slot,), made = gw.slots.allocate(
                session, agency_id=old.agency_id, count=1, public_url=public_url, now=now
            )
            opened = combined(opened, made)
            new_rows.append(
                mint(
                    gw.keyring.signing_key(key_row),
                    key_row.kid,
                    agency=agency,
                    ctype=gw.types.get(old.type),
                    subject=old.subject,
                    serial=old.serial,
                    version=f"{int(old.version) + 1:03d}",
                    valid_from=old.valid_from,
                    valid_until=old.valid_until,
                    slot=slot,
                    now=now,
                    status_code=old.status_code,
                    supersedes=old.id,
                )
            )
            record_change(session, old, REISSUE_CODE, reason=reason, actor=actor, now=now)
        if new_rows:
            session.execute(insert(CredentialRow), new_rows)
            for values in new_rows:
                audit.record(
                    session,
                    at=now,
                    actor=actor[:80],
                    action="credential.reissue",
                    subject=values["id"],
                    supersedes=values["supersedes"],
                    identifier=values["identifier"],
                    kid=values["kid"],
                    token_hash=values["token_hash"],
                    reason_hash=audit.text_hash(reason),
                )
            for values in new_rows:
                if values["status_code"] != "01":
                    set_status_bit(
                        session,
                        values["status_list_id"],
                        values["status_idx"],
                        values["status_code"],
                        now,
                    )
        change = combined(opened, mark_changed(session))
        fresh = [session.get(CredentialRow, values["id"]) for values in new_rows]
    gw.live.changed(change)
    return [row for row in fresh if row is not None]
