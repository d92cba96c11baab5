"""The city's public URL: one value, in the database, that every process of the city uses.

The URL begins every QR text (``{url}/v#…``) and the URI of every status list made while it
holds (``{url}/statuslists/{id}``); a federated gateway's entity id is the URL it had when it
joined. ``ecert init`` sets it, and only :func:`set_public_url` (``ecert city set-url``)
changes it. A starting process never writes it: before (issue 8), each ``ecert serve`` wrote
its own ``http://HOST:PORT`` or ``--public-url`` here, so every QR code pointed at whichever
process had started last. A process that is given a URL (``ECERT_PUBLIC_URL``,
``--public-url``) checks it against the database with :func:`agree` and refuses to start when
they differ, so two processes of one city on one database cannot print two URLs.

Deliberately not here: rewriting what was signed under an earlier URL. Tokens and status lists
name their status list URI inside the signature, so they keep it; the earlier URL should keep
reaching this gateway (a redirect will do) for as long as they are in use.
"""

from __future__ import annotations

from gateway import audit
from gateway.core import Gateway
from gateway.errors import Conflict
from gateway.models import CityRow, FederationRow
from gateway.state import mark_changed
from issuers.qr import check_public_url

DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"  # `ecert init` without --public-url: a local gateway
SET_URL_COMMAND = "ecert city set-url URL"


def differs(stored: str, wanted: str) -> Conflict:
    """The refusal when a process is given a URL that is not the city's."""
    return Conflict(
        f"本城市的公共网址为 {stored}，而配置为 {wanted}；两者须一致，如需更改请运行 "
        f"`{SET_URL_COMMAND}` · this city's public URL is {stored}, but {wanted} was "
        f"configured (ECERT_PUBLIC_URL or --public-url); expected the same URL: leave it unset, "
        f"or change the city's with `{SET_URL_COMMAND}`"
    )


def agree(gw: Gateway, configured: str | None) -> str:
    """The URL this process serves: the city's, once ``configured`` (if any) is checked to be it."""
    with gw.sessions() as session:
        stored = gw.city(session).public_url
    if configured is not None and check_public_url(configured) != stored:
        raise differs(stored, configured)
    return stored


def set_public_url(gw: Gateway, url: str, *, actor: str) -> CityRow:
    """Change the city's public URL (recorded in the audit log); new QR codes and new status
    lists use it at once in every process (each rebuilds its state when the version changes).

    Refused for a gateway in a federation: its peers know it by its URL (its entity id).
    """
    url = check_public_url(url)
    with gw.transaction() as session:
        city = gw.city(session)
        if city.public_url == url:
            return city
        fed = session.get(FederationRow, 1)
        if fed is not None:
            raise Conflict(
                f"本网关已以 {fed.entity_id} 加入联邦，其他网关以此网址（实体标识）识别它，"
                f"公共网址不能改为 {url} · this gateway is in a federation as {fed.entity_id}, "
                f"the entity id its peers know it by; expected its public URL to stay "
                f"{city.public_url}, found a request to change it to {url}"
            )
        audit.record(
            session, at=gw.clock(), actor=actor, action="city.public_url", subject=city.code,
            before=city.public_url, after=url,
        )  # fmt: skip
        city.public_url = url
        change = mark_changed(session)
    gw.live.changed(change)
    return city
