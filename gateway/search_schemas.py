"""Response bodies of the credential list (``GET /api/v1/credentials``) and the type catalogue
(``GET /api/v1/types``). Deliberately not here: the request side, which is query parameters
checked by :mod:`gateway.credential_query`."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from gateway.schemas import ZhEn


class CredentialListItem(BaseModel):
    id: str
    identifier: str = Field(description="证照标识 (GB/T 36904)")
    type: str
    type_name: ZhEn
    subject_name: str = Field(description="持证主体")
    subject_code: str = Field(description="持证主体代码: 统一社会信用代码 or 公民身份号码")
    subject_code_type: str = Field(description="001 统一社会信用代码, 111 公民身份号码")
    status: str = Field(examples=["valid"])
    status_code: str = Field(examples=["01"], description="GB/T status code 证照状态")
    status_name: ZhEn
    issued_at: str | None
    valid_from: str | None
    valid_until: str | None = Field(description="null: 长期有效")


class CredentialList(BaseModel):
    items: list[CredentialListItem] = Field(description="newest first 按签发时间倒序")
    next_cursor: str | None = Field(
        description="pass as `cursor`, with the same filters, for the next page; null on the "
        "last page 下一页游标"
    )


class TypeHolder(BaseModel):
    code_type: str = Field(description="001 统一社会信用代码, 111 公民身份号码")
    code_type_name: ZhEn
    code_field: str
    name_field: str


class TypeField(BaseModel):
    name: str
    label: ZhEn
    required: bool
    visibility: str = Field(description="qr (signed into the QR), public, personal")
    disclosable: bool = Field(description="selectively disclosable in the SD-JWT VC")
    derived: dict[str, str] | None = Field(description="computed by the issuer, never submitted")
    hint: ZhEn | None
    schema_: dict[str, Any] = Field(alias="schema", description="JSON Schema, with x- checks")


class TypeValidity(BaseModel):
    printed_valid_from: bool
    printed_valid_until: bool
    valid_until_required: bool
    default_days: int | None
    rule: ZhEn


class CredentialTypeOut(BaseModel):
    code: str = Field(examples=["business-licence"])
    name: ZhEn
    type_code: str = Field(description="证照类型代码 (GB/T 36904)")
    qr_code: str
    holder: TypeHolder
    personal: bool
    signed_qr: bool
    validity: TypeValidity
    max_status_age_seconds: int
    required: list[str]
    fields: list[TypeField]
    subject_schema: dict[str, Any] = Field(description="JSON Schema of `subject` 主体字段")


class TypeCatalogue(BaseModel):
    types: list[CredentialTypeOut]
