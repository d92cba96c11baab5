"""``ecert agency key add|list|revoke|rotate``: agencies' API keys (``gateway.api_keys``).

Added to ``ecert agency``'s group (``cli.admin``), which ``ecert`` loads from here. A key is
printed once, when it is made; ``list`` shows everything else about keys, never a secret.
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from typing import Annotated, Any

import typer

from cli.admin import ACTOR, agency_app
from cli.common import DEFAULT_DATA_DIR, DataDir, JsonOut, emit_json, gateway_at, say
from trust.errors import DataError

apikey_app = typer.Typer(help="Agencies' API keys 接口密钥", no_args_is_help=True)
agency_app.add_typer(apikey_app, name="key")

_DAYS = re.compile(r"^([1-9][0-9]{0,4})d$")


def parse_expiry(text: str | None, now: int) -> int | None:
    """``--expires``: ``90d`` (days from now), an ISO 8601 date (the end of that day, China
    time) or time (China time unless it says otherwise); ``None`` for no expiry."""
    from gateway.clock import CHINA_TZ

    if text is None:
        return None
    days = _DAYS.match(text.strip())
    if days:
        return now + int(days.group(1)) * 86_400
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise DataError(
            f"--expires 须为天数（如 90d）或 ISO 8601 日期时间 · expected days like 90d or an "
            f"ISO 8601 date or time like 2027-06-30 or 2027-06-30T18:00:00+08:00, found {text!r}"
        ) from exc
    if len(text.strip()) == 10:  # a date: the key works through that whole day
        moment = datetime.combine(moment.date() + timedelta(days=1), time(), tzinfo=CHINA_TZ)
    elif moment.tzinfo is None:
        moment = moment.replace(tzinfo=CHINA_TZ)
    return int(moment.timestamp())


def _show(key: dict[str, Any]) -> str:
    return (
        f"{key['id']}  {key['agency_id']}  {key['state']}  scopes {','.join(key['scopes'])}  "
        f"created {key['created_at']}  expires {key['expires_at'] or 'never 永不'}  "
        f"last used {key['last_used_at'] or 'never 未使用'}"
        + (f"  revoked {key['revoked_at']}" if key["revoked_at"] else "")
        + (f"  replaced by {key['replaced_by']}" if key["replaced_by"] else "")
        + (f"  ({key['label']})" if key["label"] else "")
    )


@apikey_app.command("add")
def key_add(
    agency: Annotated[str, typer.Option("--agency", help="the agency's id (ag-…)")],
    scopes: Annotated[
        str, typer.Option("--scopes", help="comma-separated: issue, status, read")
    ] = "issue,status,read",
    expires: Annotated[
        str | None,
        typer.Option("--expires", help="90d, 2027-06-30 or 2027-06-30T18:00:00+08:00"),
    ] = None,
    label: Annotated[str, typer.Option("--label", help="what the key is for")] = "",
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: JsonOut = False,
) -> None:
    """A new API key with the scopes given; prints it once. 新增接口密钥"""
    from gateway import api_keys

    with gateway_at(data_dir) as gw:
        shown, key = api_keys.add_key(
            gw,
            agency_id=agency,
            scopes=scopes.split(","),
            expires_at=parse_expiry(expires, gw.clock()),
            label=label,
            actor=ACTOR,
        )
    if as_json:
        emit_json({**shown, "api_key": key})
        return
    say(_show(shown))
    say(f"API key (shown once, 仅显示一次): {key}")


@apikey_app.command("list")
def key_list(
    agency: Annotated[str | None, typer.Option("--agency", help="only this agency's")] = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: JsonOut = False,
) -> None:
    """API keys with scopes, expiry, last use and state (never a secret). 接口密钥列表"""
    from gateway import api_keys

    with gateway_at(data_dir) as gw:
        keys = api_keys.list_keys(gw, agency)
    if as_json:
        emit_json(keys)
        return
    for key in keys:
        say(_show(key))


@apikey_app.command("revoke")
def key_revoke(
    key_id: Annotated[str, typer.Option("--key", help="the key's id (the part after ek_)")],
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: JsonOut = False,
) -> None:
    """Revoke an API key at once. 吊销接口密钥"""
    from gateway import api_keys

    with gateway_at(data_dir) as gw:
        shown = api_keys.revoke_key(gw, key_id=key_id, actor=ACTOR)
    if as_json:
        emit_json(shown)
        return
    say(f"API key {key_id} revoked at {shown['revoked_at']} · 已吊销")


@apikey_app.command("rotate")
def key_rotate(
    key_id: Annotated[str, typer.Option("--key", help="the key's id (the part after ek_)")],
    grace: Annotated[
        int,
        typer.Option("--grace", min=0, help="seconds the old key keeps working (default 0)"),
    ] = 0,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: JsonOut = False,
) -> None:
    """A new secret with the same scopes; the old key is revoked (after --grace). 轮换接口密钥"""
    from gateway import api_keys

    with gateway_at(data_dir) as gw:
        shown, key = api_keys.rotate_key(gw, key_id=key_id, grace=grace, actor=ACTOR)
    if as_json:
        emit_json({**shown, "api_key": key, "replaces": key_id})
        return
    say(_show(shown))
    say(
        f"API key {key_id} is revoked "
        + (f"in {grace} s · 旧密钥 {grace} 秒后吊销" if grace else "now · 旧密钥已吊销")
    )
    say(f"new API key (shown once, 仅显示一次): {key}")
