"""``ecert audit verify`` and ``ecert audit checkpoint``: the local audit log (全过程留痕).

``verify`` recomputes every leaf from its stored row, the root at every stored checkpoint and
the tree state, and each checkpoint's signature (:mod:`gateway.auditverify`); it reports the
first bad entry (index, expected, found) and exits 1, or 0 when all holds. ``checkpoint`` prints
the newest signed head (signing one if the log grew, as ``GET /audit/checkpoint`` does).
"""

from __future__ import annotations

from typing import Any

import typer

from cli.common import DEFAULT_DATA_DIR, DataDir, JsonOut, emit_json, gateway_at, say

audit_app = typer.Typer(help="The audit log 审计日志（全过程留痕）", no_args_is_help=True)


@audit_app.command("verify")
def verify(data_dir: DataDir = DEFAULT_DATA_DIR, as_json: JsonOut = False) -> None:
    """Check every leaf, root and signed head; report the first bad entry. 校验审计日志"""
    from gateway import auditverify

    with gateway_at(data_dir) as gw, gw.sessions() as session:
        report = auditverify.verify(session)
    problem = report.problem
    out: dict[str, Any] = {
        "ok": report.ok,
        "leaves": report.size,
        "tree_size": report.tree_size,
        "checkpoints": report.checkpoints,
        "root_hash": report.root,
        "first_bad": None,
    }
    if problem is not None:
        out["first_bad"] = {
            "index": problem.index,
            "what": problem.what,
            "expected": problem.expected,
            "found": problem.found,
            "message": problem.message,
            "message_en": problem.message_en,
        }
    if as_json:
        emit_json(out)
    elif problem is None:
        say(f"✓ 审计日志完好：{report.size} 条，{report.checkpoints} 个检查点的签名与根均一致 · "
            f"the audit log holds: {report.size} leaves, {report.checkpoints} checkpoints, "
            "every signature and recomputed root matches")  # fmt: skip
    else:
        say(f"✗ 第一个异常条目 first bad entry: {problem.index} ({problem.what})", err=True)
        say(f"  {problem.message} · {problem.message_en}", err=True)
        say(f"  应为 expected: {problem.expected}", err=True)
        say(f"  实为 found:    {problem.found}", err=True)
    if problem is not None:
        raise typer.Exit(1)


@audit_app.command("checkpoint")
def checkpoint(data_dir: DataDir = DEFAULT_DATA_DIR, as_json: JsonOut = False) -> None:
    """Print the newest signed tree head. 当前检查点"""
    from gateway import auditheads
    from trust.encoding import b64url_encode

    with gateway_at(data_dir) as gw:
        head = auditheads.current(gw)
    out = {
        "tree_size": head.tree_size,
        "root_hash": b64url_encode(head.root_hash),
        "signed_at": head.signed_at,
        "checkpoint": head.jws,
    }
    if as_json:
        emit_json(out)
    else:
        say(f"检查点 checkpoint: {out['tree_size']} 条 leaves, root {out['root_hash']}")
        say(head.jws)
