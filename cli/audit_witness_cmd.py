"""``ecert audit alarms`` and ``ecert audit ack``: alarms this gateway raised as a witness of
its peers' audit logs (truncated, rolled back, rewritten, badly signed or stale heads), which
stand, and keep ``/healthz`` degraded, until an operator acknowledges them.

Registered on the ``audit`` command group of :mod:`cli.audit_cmd` (``verify``, ``checkpoint``).
"""

from __future__ import annotations

import getpass
from typing import Annotated

import typer

from cli.audit_cmd import audit_app
from cli.common import DEFAULT_DATA_DIR, DataDir, JsonOut, emit_json, gateway_at, say


@audit_app.command("alarms")
def list_alarms(
    all_: Annotated[bool, typer.Option("--all", help="acknowledged ones too 含已确认")] = False,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: JsonOut = False,
) -> None:
    """Alarms about peers' audit logs, newest first. 见证告警"""
    from gateway.witness_alarms import alarms

    with gateway_at(data_dir) as gw:
        found = alarms(gw, include_acked=all_)
    if as_json:
        emit_json([a.to_json() for a in found])
        return
    if not found:
        say("没有待处理的见证告警 · no witness alarm stands")
        return
    for a in found:
        j = a.to_json()
        state = f"已确认 acknowledged by {a.acked_by}" if a.acked_by else "待处理 standing"
        say(f"#{a.id} {a.kind} {a.peer} ×{a.times} {j['raised_at']} · {state}")
        say(f"    {a.message}")
        say(f"    {a.message_en}")


@audit_app.command("ack")
def ack(
    alarm_id: Annotated[int, typer.Argument(help="the alarm's id (ecert audit alarms)")],
    reset: Annotated[
        bool,
        typer.Option(
            "--reset",
            help="also forget the peer's verified head: its next head is trusted on first use "
            "again 同时清除该节点已核验的树头",
        ),
    ] = False,
    by: Annotated[str | None, typer.Option("--by", help="who acknowledges 确认人")] = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: JsonOut = False,
) -> None:
    """Acknowledge a witness alarm (an audit event). 确认见证告警"""
    from gateway.witness_alarms import acknowledge

    actor = by or f"cli:{getpass.getuser()}"
    with gateway_at(data_dir) as gw:
        done = acknowledge(gw, alarm_id, actor=actor, reset=reset)
    if as_json:
        emit_json(done.to_json())
    else:
        forgot = "；已清除该节点的树头 · its verified head forgotten" if reset else ""
        say(f"告警 #{done.id} 已确认 · alarm {done.id} about {done.peer} acknowledged{forgot}")
