"""GB/T 36903 电子证照元数据 of a credential record, as the API presents it.

Keys are English snake_case; ``LABELS`` gives each element's name in the standard. 证照编号 is
the type's licence-number field when it has one (许可证编号), else the holder's code (a business
licence's number is its USCC).
"""

from __future__ import annotations

from typing import Any

from gateway.clock import iso
from gateway.models import AgencyRow, CredentialRow
from issuers.credential_types import CredentialType
from issuers.status_rules import STATUS_NAMES

LABELS: dict[str, str] = {
    "licence_name": "证照名称",
    "licence_type_code": "证照类型代码",
    "licence_number": "证照编号",
    "licence_identifier": "证照标识",
    "issuing_authority": "证照颁发机构",
    "issuing_authority_code": "颁发机构代码",
    "issue_date": "证照颁发日期",
    "holder": "持证主体",
    "holder_code": "持证主体代码",
    "holder_code_type": "持证主体代码类型",
    "valid_from": "有效期起始日期",
    "valid_until": "有效期截止日期",
    "status": "证照状态",
    "jurisdiction_code": "管辖属地编码",
}
NUMBER_FIELDS = ("licence_no", "licence_number", "permit_no")


def gbt36903(row: CredentialRow, agency: AgencyRow, ctype: CredentialType) -> dict[str, Any]:
    number = next((row.subject[f] for f in NUMBER_FIELDS if f in row.subject), row.holder_code)
    zh, en = STATUS_NAMES[row.status_code]
    return {
        "licence_name": ctype.name_zh,
        "licence_type_code": ctype.type_code,
        "licence_number": str(number),
        "licence_identifier": row.identifier,
        "issuing_authority": agency.name,
        "issuing_authority_code": agency.uscc,
        "issue_date": iso(row.issued_at),
        "holder": row.holder_name,
        "holder_code": row.holder_code,
        "holder_code_type": row.holder_code_type,
        "valid_from": iso(row.valid_from),
        "valid_until": iso(row.valid_until),
        "status": {"code": row.status_code, "zh": zh, "en": en},
        "jurisdiction_code": row.region_code,
    }
