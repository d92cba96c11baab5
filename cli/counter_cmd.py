"""``ecert counter request``: a counter asks a wallet for a presentation (OpenID4VP 1.0): a
signed request for some fields of one type, with a reason, valid five minutes; prints the
``openid4vp://`` link its QR shows (``/oid4vp/requests/{id}/qr.png`` on a running gateway)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cli.common import DEFAULT_DATA_DIR, DataDir, JsonOut, emit_json, gateway_at, say
from cli.federation_common import fetcher
from cli.kiosk import status_age_line
from gateway import presentation_answers, presentations, references, verifiers

counter_app = typer.Typer(help="A counter asks for presentations 核验点", no_args_is_help=True)


@counter_app.command("request")
def counter_request(
    verifier: Annotated[str, typer.Option("--verifier", help="the counter's id (vf-…)")],
    ctype: Annotated[str, typer.Option("--type", help="e.g. resident-eid")],
    fields: Annotated[str, typer.Option("--fields", help="comma-separated, e.g. name,sex")],
    reason: Annotated[str, typer.Option("--reason", help="用证事由, e.g. 旅馆住宿登记")],
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: JsonOut = False,
) -> None:
    """Make a signed presentation request. 发起出示请求"""
    with fetcher() as http, gateway_at(data_dir) as gw:
        made = presentations.create_request(
            gw,
            verifier_id=verifier,
            credential_type=ctype,
            fields=[f.strip() for f in fields.split(",") if f.strip()],
            reason=reason,
            fetcher=http,  # a role granted by a trust mark is checked with its issuer
        )
    if as_json:
        emit_json(made.as_dict())
        return
    say(f"出示请求 · presentation request {made.id}（5 分钟内有效 · valid 5 minutes）")
    say(made.link)


@counter_app.command("result")
def counter_result(
    request_id: Annotated[str, typer.Argument(help="the request's id (pr-…)")],
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: JsonOut = False,
) -> None:
    """Show a request and the wallet's answer. 查看出示结果"""
    with gateway_at(data_dir) as gw:
        shown = presentation_answers.result_of(gw, request_id, verifier_id=None)
    if as_json:
        emit_json(shown)
        return
    asked = ",".join(shown["fields"])
    say(f"出示请求 · presentation request {shown['id']}：{shown['type']} {asked}")
    say(f"用证事由 · reason：{shown['reason']}")
    result = shown["result"]
    if result is None:
        waiting = {
            "pending": "等待钱包应答 · waiting for the wallet",
            "expired": "已过期，未应答 · expired, unanswered",
        }
        say(waiting[shown["state"]])
        return
    show_result(result)


def show_result(result: dict[str, Any]) -> None:
    """Print a presentation's or a reference code's result, Chinese first; exit 1 unless
    valid."""
    mark = "✓" if result["valid"] else "✗"
    say(f"{mark} {result['message']['zh']} · {result['message']['en']} ({result['reason']})")
    delegation = result.get("delegation")
    if delegation:  # 委托用证: shown by an authorised delegate, not the holder
        name = delegation["delegate"]
        say(f"由授权代理人 {name} 出示 · shown by authorised delegate {name}")
        say(f"委托人 · delegated by：{delegation['delegated_by']['name']}；委托事项 · purposes："
            f"{'、'.join(delegation['purposes'])}；至 · until {delegation['until']}")  # fmt: skip
    for f in result["fields"]:
        say(f"  {f['label']['zh']} {f['label']['en']}：{f['value']}")
    binding = "已确认 · confirmed" if result["holder_binding"] else "未确认 · not confirmed"
    say(f"持证人绑定 · holder binding：{binding}")
    if result["issuer"] is not None:
        chain = " → ".join(link["name"] for link in result["issuer"]["chain"])
        say(f"签发机构 · issuer：{result['issuer']['name']}（{chain}）")
    fresh = result.get("freshness") or {}
    if fresh.get("status_age_seconds") is not None:  # issue 11: how old the status data was
        say(status_age_line(fresh).strip())
    say(f"核验时间 · checked at：{result['checked_at']}")
    if not result["valid"]:
        raise typer.Exit(1)


@counter_app.command("resolve")
def counter_resolve(
    code: Annotated[
        str, typer.Argument(help="亮证码 · reference code: 330100-ABCD-… (any city) or ABCD-…")
    ],
    verifier: Annotated[str, typer.Option("--verifier", help="the counter's id (vf-…)")],
    reason: Annotated[str, typer.Option("--reason", help="用证事由 (≤200), e.g. 旅馆住宿登记")],
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: JsonOut = False,
) -> None:
    """Resolve a holder's reference code once, stating why. 核验亮证码"""
    with fetcher() as http, gateway_at(data_dir) as gw:
        with gw.sessions() as session:
            row = verifiers.get_verifier(session, verifier)
            counter = verifiers.Counter(id=row.id, name=row.name, role=row.role)
        shown = references.resolve(gw, counter, code, reason, fetcher=http)
    if as_json:
        emit_json(shown)
        if not shown["valid"]:
            raise typer.Exit(1)
        return
    say(f"亮证码核验 · reference code resolved by {counter.name}（{counter.id}）")
    say(f"用证事由 · reason：{reason.strip()}")
    show_result(shown)
