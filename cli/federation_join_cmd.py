"""``ecert federation pending|reject|purge``: an anchor operator's view of its join queue.

What it does: list the join requests waiting at this region trust anchor (id, entity, key ids,
when, from which client address, until when), reject one with a reason, and purge the expired
ones (or, with ``--all``, every waiting one), all through ``gateway.join_requests``, which
records each rejection and purge in the audit log with the actor ``cli:<login name>``.
These commands join :mod:`cli.federation_cmd`'s group (with :mod:`cli.federation_ops`'s).

What it deliberately does not do: approve (``ecert federation approve``), or decide which
requests may wait (``gateway.join_requests`` does).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

import cli.federation_ops  # noqa: F401 (its commands, sync and rotate-key, come first)
from cli.common import DEFAULT_DATA_DIR, DataDir, JsonOut, emit_json, gateway_at, say
from cli.federation_cmd import federation_app
from cli.federation_common import actor
from gateway import join_requests
from gateway.clock import iso

__all__ = ["federation_app"]


def _shown(request: dict[str, Any]) -> dict[str, Any]:
    return {
        **request,
        "requested_at": iso(request["requested_at"]),
        "expires_at": iso(request["expires_at"]),
    }


@federation_app.command("pending")
def pending(data_dir: DataDir = DEFAULT_DATA_DIR, as_json: JsonOut = False) -> None:
    """Anchor: the join requests waiting for a decision, oldest first. 待审核的加入申请"""
    with gateway_at(data_dir) as gw:
        requests = [_shown(r) for r in join_requests.pending(gw)]
    if as_json:
        emit_json(requests)
        return
    if not requests:
        say("no join request is waiting · 没有待审核的加入申请")
    for r in requests:
        state = "已过期 expired" if r["expired"] else f"until {r['expires_at']}"
        say(
            f"{r['id']}  {r['entity_id']}  {r['name']}  kids {', '.join(r['kids'])}  "
            f"asked {r['requested_at']} from {r['address']}  {state}"
        )


@federation_app.command("reject")
def reject(
    request_id: Annotated[str, typer.Argument(help="the id `ecert federation pending` lists")],
    reason: Annotated[
        str,
        typer.Option(
            "--reason", help=f"why, for the audit log (1 to {join_requests.MAX_REASON} characters)"
        ),
    ],
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: JsonOut = False,
) -> None:
    """Anchor: refuse one waiting join request; the entity may ask again. 拒绝加入申请"""
    with gateway_at(data_dir) as gw:
        row = join_requests.reject(gw, request_id=request_id, reason=reason, actor=actor())
    out = {"id": request_id, "entity_id": row.entity_id, "status": "rejected", "reason": reason}
    if as_json:
        emit_json(out)
        return
    say(f"rejected {request_id} ({row.entity_id}) · 已拒绝")


@federation_app.command("purge")
def purge(
    everything: Annotated[
        bool, typer.Option("--all", help="every waiting request, not only the expired ones")
    ] = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: JsonOut = False,
) -> None:
    """Anchor: drop the expired join requests (--all: every waiting one). 清理加入申请"""
    with gateway_at(data_dir) as gw:
        dropped = join_requests.purge(gw, everything=everything, actor=actor())
    if as_json:
        emit_json({"purged": dropped, "all": everything})
        return
    what = "waiting" if everything else "expired"
    say(f"purged {len(dropped)} {what} join request(s) · 已清理 {len(dropped)} 个")
