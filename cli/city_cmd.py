"""``ecert city show`` and ``ecert city set-url``: the city this data directory serves.

The public URL is the city's, held in its database and shared by every process that serves it;
``set-url`` is the one way to change it (see ``gateway.publicurl``).
"""

from __future__ import annotations

from typing import Annotated

import typer

from cli.common import DEFAULT_DATA_DIR, DataDir, JsonOut, emit_json, gateway_at, say
from cli.federation_common import actor
from gateway import publicurl
from gateway.clock import iso
from gateway.models import FederationRow

city_app = typer.Typer(help="The city this gateway serves 城市网关", no_args_is_help=True)


@city_app.command("show")
def show(data_dir: DataDir = DEFAULT_DATA_DIR, as_json: JsonOut = False) -> None:
    """The city's code, name and public URL. 城市信息"""
    with gateway_at(data_dir) as gw, gw.sessions() as session:
        city = gw.city(session)
        fed = session.get(FederationRow, 1)
        out = {
            "code": city.code,
            "name": city.name,
            "public_url": city.public_url,
            "created_at": iso(city.created_at),
            "federation_entity_id": None if fed is None else fed.entity_id,
        }
    if as_json:
        emit_json(out)
        return
    say(f"{out['name']} ({out['code']}) · public URL 公共网址 {out['public_url']}")


@city_app.command("set-url")
def set_url(
    url: Annotated[str, typer.Argument(help="https://… (or http://…), without query or fragment")],
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: JsonOut = False,
) -> None:
    """Change the city's public URL, in every process of the city. 更改公共网址

    New QR codes and new status lists use it; certificates issued before keep
    the status list URI they were signed with.
    """
    with gateway_at(data_dir) as gw:
        city = publicurl.set_public_url(gw, url, actor=actor())
    if as_json:
        emit_json({"code": city.code, "public_url": city.public_url})
        return
    say(f"{city.name} ({city.code}) public URL is now {city.public_url} · 公共网址已更新")
