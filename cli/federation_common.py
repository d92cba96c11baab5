"""What the ``ecert federation`` and ``ecert region`` commands share.

The actor recorded in the audit log (``cli:<login name>``), the options both groups take,
checked type lists and entity ids, and fetching another party's region trust anchor: GET its
Entity Configuration over HTTP (``gateway.peers``), verify it with ``trust.federation``
(self-signed, an anchor) and choose the keys to pin from it.

It deliberately does not decide trust (``trust.federation`` does), write to the database, or
ever pin a key that the fetched configuration does not both list and sign with.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.common import say
from gateway import federation
from gateway.clock import iso
from gateway.peers import HttpFetcher
from trust.errors import DataError
from trust.federation import (
    MAX_STATEMENT_LENGTH,
    EntityStatement,
    FederationError,
    check_entity_id,
    entity_configuration_url,
    verify_entity_configuration,
)
from trust.keys import PublicKey

if TYPE_CHECKING:
    from gateway.core import Gateway
    from gateway.models import SubordinateRow

GATEWAY_METADATA = "ecert_gateway"  # the entity type gateway.federation publishes roles under

AnchorUrl = Annotated[
    str, typer.Option("--anchor", help="the region trust anchor's entity id (its URL)")
]
AnchorKids = Annotated[
    list[str] | None,
    typer.Option(
        "--anchor-kid",
        help="federation key id to pin, obtained out of band (repeatable); "
        "without it every key found is pinned on first use",
    ),
]
EntityUrl = Annotated[str, typer.Option("--entity", help="the entity id (URL)")]
Types = Annotated[str, typer.Option("--types", help="comma-separated credential type codes")]
Policy = Annotated[
    str, typer.Option("--policy", help="name of the agreement (ASCII, no spaces), e.g. yrd-jjj")
]


def actor() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no login name for this uid (e.g. in a bare container)
        user = f"uid{os.getuid()}"
    return f"cli:{user}"


def type_list(value: str) -> list[str]:
    return sorted({t.strip() for t in value.split(",") if t.strip()})


def known_types(gw: Gateway, types: Sequence[str]) -> list[str]:
    known = sorted(t.code for t in gw.types)
    unknown = [t for t in types if t not in known]
    if unknown:
        raise DataError(
            f"--types expects codes among {', '.join(known)}; found unknown {', '.join(unknown)}"
        )
    return list(types)


def entity_id(value: str, option: str) -> str:
    return check_entity_id(value.rstrip("/"), option, FederationError)


@contextmanager
def fetcher() -> Iterator[HttpFetcher]:
    """An HTTP client for federation documents, closed however the command ends."""
    client = HttpFetcher()
    try:
        yield client
    finally:
        client.close()


# --- fetching and pinning another party's anchor ---------------------------------------------


@dataclass(frozen=True)
class FetchedAnchor:
    """A region trust anchor's verified configuration and the keys chosen to pin from it."""

    statement: EntityStatement
    pinned: tuple[PublicKey, ...]
    on_first_use: bool  # no --anchor-kid: pinned whatever the anchor served (TOFU)

    @property
    def entity_id(self) -> str:
        return self.statement.sub

    @property
    def kids(self) -> list[str]:
        return [k.kid for k in self.pinned]

    @property
    def jwks(self) -> list[dict[str, Any]]:
        return [dict(k.jwk) for k in self.pinned]

    def region(self) -> tuple[str, str]:
        meta = self.statement.metadata.get(GATEWAY_METADATA, {})
        region_id, region_name = meta.get("region_id"), meta.get("region_name")
        if not (isinstance(region_id, str) and region_id and isinstance(region_name, str)):
            raise DataError(
                f"expected {GATEWAY_METADATA}.region_id and region_name in the configuration "
                f"of {self.entity_id}, found {region_id!r} and {region_name!r}"
            )
        return region_id, region_name


def fetch_anchor(
    fetcher: HttpFetcher, anchor: str, *, kids: Sequence[str], now: int
) -> FetchedAnchor:
    """GET ``{anchor}/.well-known/openid-federation``, verify it, choose the keys to pin."""
    anchor_id = entity_id(anchor, "--anchor")
    url = entity_configuration_url(anchor_id)
    body = fetcher.fetch(url)
    try:
        token = body[: MAX_STATEMENT_LENGTH + 1].decode("ascii").strip()
    except UnicodeDecodeError as exc:
        raise DataError(f"expected a compact JWS from {url}, found non-ASCII bytes") from exc
    statement = verify_entity_configuration(token, now=now, expected_sub=anchor_id)
    role = statement.metadata.get(GATEWAY_METADATA, {}).get("role")
    if role != federation.ANCHOR:
        raise DataError(
            f"expected {anchor_id} to be a region trust anchor, found role {role!r} in its "
            f"{GATEWAY_METADATA} metadata"
        )
    found = [k.kid for k in statement.jwks]
    if not kids:
        return FetchedAnchor(statement, statement.jwks, on_first_use=True)
    missing = [k for k in dict.fromkeys(kids) if k not in found]
    if missing:
        raise DataError(
            f"--anchor-kid {', '.join(missing)} is not among the federation keys of {anchor_id}; "
            f"found {', '.join(found)}"
        )
    if statement.signed_with.kid not in kids:
        raise DataError(
            f"{anchor_id} signed its configuration with key {statement.signed_with.kid}, "
            f"which is not among the pinned --anchor-kid {', '.join(kids)}"
        )
    return FetchedAnchor(
        statement, tuple(k for k in statement.jwks if k.kid in kids), on_first_use=False
    )


def check_continuity(fetched: FetchedAnchor, pinned_jwks: Sequence[dict[str, Any]]) -> None:
    """The anchor still signs with a key pinned before: no silent re-pinning on a repeat."""
    pinned = [PublicKey.from_jwk(j).kid for j in pinned_jwks]  # kid = RFC 7638 thumbprint
    if fetched.statement.signed_with.kid not in pinned:
        raise DataError(
            f"{fetched.entity_id} signed its configuration with key "
            f"{fetched.statement.signed_with.kid}, not with a key pinned earlier "
            f"({', '.join(pinned)}); it serves {', '.join(k.kid for k in fetched.statement.jwks)}"
        )


def warn_first_use(fetched: FetchedAnchor) -> None:
    if fetched.on_first_use:  # stderr: a warning, and --json owns stdout
        say(
            f"warning: trusting {fetched.entity_id} on first use: pinned federation key(s) "
            f"{', '.join(fetched.kids)}; compare them with the anchor's operator out of band "
            "(or pass --anchor-kid) · 首次信任，请线下核对密钥标识",
            err=True,
        )


# --- what the commands print -----------------------------------------------------------------


def subordinate_json(row: SubordinateRow) -> dict[str, Any]:
    return {
        "entity_id": row.entity_id,
        "kind": row.kind,
        "name": row.name,
        "status": row.status,
        "types": list(row.credential_types),
        "policy": row.policy or None,
        "kids": [str(j.get("kid", "")) for j in row.jwks],
        "requested_at": iso(row.requested_at),
        "decided_by": row.decided_by,
        "decided_at": iso(row.decided_at),
    }
