"""``ecert types [CODE]``: the credential types this gateway issues, their fields (zh/en labels,
required or not, visibility) and validity rules, as ``GET /api/v1/types`` answers
(:mod:`gateway.type_views`). Needs no data directory: the types ship with the gateway."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cli.common import JsonOut, emit_json, say
from cli.table import table
from gateway import type_views
from issuers.credential_types import TypeRegistry
from trust.errors import DataError

REQUIRED = {True: "必填 required", False: "选填 optional"}
VISIBILITY = {"qr": "二维码 qr", "public": "公开 public", "personal": "个人 personal"}


def _validity(rules: dict[str, Any]) -> str:
    """A few words for a table cell; ``ecert types CODE`` says it in full."""
    if rules["printed_valid_until"]:
        if rules["valid_until_required"]:
            return "证面有效期至 · printed date"
        return "证面有效期至，可长期 · printed date or none"
    if rules["default_days"]:
        return f"默认 {rules['default_days']} 天 days"
    return "长期 no expiry"


def types(
    code: Annotated[str | None, typer.Argument(help="one type's fields 单个类型的字段")] = None,
    as_json: JsonOut = False,
) -> None:
    """Credential types, their fields and validity rules. 证照类型"""
    registry = TypeRegistry.load()
    if code is None:
        described = type_views.catalogue(registry)
        if as_json:
            emit_json({"types": described})
            return
        rows = [
            (t["code"], t["name"]["zh"], t["name"]["en"], t["holder"]["code_type_name"]["zh"],
             str(len(t["fields"])), _validity(t["validity"]))
            for t in described
        ]  # fmt: skip
        headers = ("类型 code", "名称", "name", "持证主体代码", "字段 fields", "有效期 validity")
        say(table(headers, rows))
        say("字段详情 · fields: ecert types CODE")
        return
    if code not in registry:
        known = ", ".join(sorted(t.code for t in registry))
        raise DataError(f"未知证照类型 · expected one of {known}, found {code!r}")
    one = type_views.describe(registry.get(code))
    if as_json:
        emit_json(one)
        return
    say(
        f"{one['name']['zh']} {one['name']['en']}  ({one['code']}, 证照类型代码 {one['type_code']})"
    )
    say(f"有效期 · validity: {one['validity']['rule']['zh']}")
    say(f"  {one['validity']['rule']['en']}")
    rows = [
        (f["name"], f["label"]["zh"], f["label"]["en"], REQUIRED[f["required"]],
         VISIBILITY[f["visibility"]], "派生 derived" if f["derived"] else "")
        for f in one["fields"]
    ]  # fmt: skip
    say(table(("字段 field", "名称", "label", "必填 required", "可见 visibility", ""), rows))
