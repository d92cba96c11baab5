"""Request and response bodies of the HTTP API (pydantic, separate from table models)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field, JsonValue

from trust.oid4vp import MAX_PURPOSE
from verify.delegation import MAX_DELEGATE, MAX_PURPOSES
from verify.delegation import MAX_PURPOSE as MAX_PURPOSE_TEXT

# The public JSON of a verification is pure (verify/): the offline verifier renders alike.
from verify.result_json import verification_json as verification_json

# Ids in a path, bounded to what their column holds (String(40)) and to the characters ids are
# made of: a NUL reached PostgreSQL and answered 500 (issue 11).
ID_PATTERN = r"^[A-Za-z0-9_-]+$"
RecordId = Annotated[str, Path(min_length=1, max_length=40, pattern=ID_PATTERN)]
# A one-time code in a path (an offer's 43 characters); only its hash is ever looked up.
CodeInPath = Annotated[str, Path(min_length=1, max_length=128, pattern=ID_PATTERN)]
# A type code in a path (String(64)).
TypeCode = Annotated[str, Path(min_length=1, max_length=64, pattern=ID_PATTERN)]
# Free text a person writes (a reason, a name): no control characters, and not only spaces (the
# services strip it first; a whitespace-only reason was schema-valid yet refused, issue 11).
# Here only control characters are refused (a NUL reached PostgreSQL); the rest, documented in
# the schema by ``text(...)``, the services refuse with messages that name the field in Chinese.
TEXT_PATTERN = r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$"
NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"
TEXT_RULE = "no control characters, not only whitespace 不含控制字符，不能只有空白"


def text(
    *, max_length: int, documented_max: int | None = None, default: Any = ..., **more: Any
) -> Any:
    """A ``Field`` of free text: control characters refused on the way in; the schema documents
    what the service accepts (a non-space character, at most ``documented_max``)."""
    documented: dict[str, JsonValue] = {
        "pattern": TEXT_PATTERN,
        "minLength": 1,
        "maxLength": documented_max or max_length,
    }
    return Field(
        default,
        min_length=1,
        max_length=max_length,
        pattern=NO_CONTROL,
        json_schema_extra=documented,
        **more,
    )


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IssueBody(Strict):
    type: str = Field(max_length=64, examples=["business-licence"])
    subject: dict[str, Any] = Field(
        min_length=1,
        description="the type's fields (GET /.well-known/openid-credential-issuer lists the "
        "types) 证照主体字段",
        examples=[
            {
                "name": "杭州西湖龙井茶业有限公司",
                "uscc": "91330106MA2B3C4D5D",
                "entity_type": "有限责任公司",
                "legal_representative": "王建国",
                "registered_capital": "100万元人民币",
                "established_on": "2020-05-18",
                "address": "浙江省杭州市西湖区龙井路1号",
                "business_scope": "茶叶种植、加工、销售",
            }
        ],
    )
    valid_from: str | None = Field(
        default=None,
        max_length=40,
        examples=["2026-01-01"],
        description="YYYY-MM-DD (China time) or ISO 8601, from 1900-01-01 to 2199-12-31; "
        "default now 有效期起始日期",
    )
    valid_until: str | None = Field(
        default=None,
        max_length=40,
        examples=["2046-12-31"],
        description="YYYY-MM-DD (end of that day, China time) or ISO 8601, to 2199-12-31; "
        "default the type's validity, none for 长期有效 有效期截止日期",
    )
    wallet_offer: bool = Field(
        default=False,
        description="also answer an OpenID4VCI credential offer and its PIN 同时生成钱包领取链接",
    )


class WalletOfferOut(BaseModel):
    offer_uri: str
    credential_offer_uri: str
    qr_png: str
    tx_code: str
    expires_at: int


class ReasonBody(Strict):
    reason: str = text(
        max_length=500,
        examples=["经营异常，依法暂扣"],
        description=TEXT_RULE,
    )
    code: str | None = Field(
        default=None,
        max_length=8,
        examples=["07"],
        description="the precise GB/T status code the action sets: suspend 02, reinstate 01, "
        "revoke 03 撤销 (default), 04, 05, 06, 07 or 99; a code the action does not set is "
        "refused (422, field `code`) 状态码",
    )


QR_MAX_CHARS = 8192  # one scanned text
BATCH_MAX_QRS = 256  # texts in one POST /api/v1/verify/batch (its body is bounded too: 256 KiB)


class VerifyBody(Strict):
    qr: str = Field(
        min_length=1, max_length=QR_MAX_CHARS, description="what the scanner or camera read"
    )


class VerifyBatchBody(Strict):
    qrs: list[Annotated[str, Field(min_length=1, max_length=QR_MAX_CHARS)]] = Field(
        min_length=1,
        max_length=BATCH_MAX_QRS,
        description=f"1 to {BATCH_MAX_QRS} scanned texts, answered in order 待核验的二维码内容",
    )


class IssuedCredential(BaseModel):
    id: str
    identifier: str
    type: str
    token: str
    qr_text: str
    status: str
    status_code: str
    issued_at: str | None
    valid_from: str | None
    valid_until: str | None
    qr_png: str
    qr_svg: str
    wallet_offer: WalletOfferOut | None = None


class CredentialDetail(IssuedCredential):
    agency_id: str
    subject: dict[str, Any]
    holder_code: str
    holder_name: str
    kid: str
    status_list: str
    status_history: list[dict[str, Any]]
    metadata: dict[str, Any] = Field(description="GB/T 36903 电子证照元数据")
    delegated_from: str | None = Field(
        default=None,
        description="a delegated copy (委托用证) names the credential it was delegated from",
    )


class StatusChanged(IssuedCredential):
    """The answer to a suspend, reinstate or revoke. The subject, the holder and the GB/T 36903
    metadata are personal: they are there only when the API key also has the ``read`` scope,
    else ``null``."""

    agency_id: str
    kid: str
    status_list: str
    status_history: list[dict[str, Any]]
    subject: dict[str, Any] | None = None
    holder_code: str | None = None
    holder_name: str | None = None
    metadata: dict[str, Any] | None = Field(default=None, description="GB/T 36903 电子证照元数据")


class PresentationRequestBody(Strict):
    type: str = Field(min_length=1, max_length=64, examples=["resident-eid"])
    fields: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        min_length=1, max_length=32, examples=[["name", "sex"]]
    )
    reason: str = text(
        max_length=MAX_PURPOSE,
        examples=["旅馆住宿登记"],
        description=TEXT_RULE,
    )


class ReferenceBody(Strict):
    proof: str = Field(
        min_length=1, max_length=4096, description="holder proof JWT (typ ecert-holder+jwt)"
    )


class ReferenceOut(BaseModel):
    code: str = Field(description="16 base32 characters, resolvable at the issuing gateway")
    city_code: str = Field(description="the issuing city's region code (GB/T 2260), e.g. 330100")
    display: str = Field(description="the routable form, for people: 330100-ABCD-EFGH-JKLM-NP23")
    qr_text: str = Field(description="what the QR carries: the routable form")
    expires_at: str
    expires_in: int
    qr_png: str = Field(description="data:image/png;base64,…")
    paper: bool = Field(
        default=False,
        description="a paper code: long-lived, resolved any number of times, each a use",
    )


class PaperReferenceBody(Strict):
    valid_days: int = Field(default=90, ge=1, le=366, description="days the paper code lives")


class DelegationBody(Strict):
    """A holder delegates the credential its proof names 持证人委托代理人用证."""

    proof: str = Field(
        min_length=1, max_length=4096, description="holder proof JWT of the delegated credential"
    )
    name: str = text(
        max_length=200,
        documented_max=MAX_DELEGATE,
        examples=["张三"],
        description=f"代理人姓名; {TEXT_RULE}",
    )
    purposes: list[Annotated[str, text(max_length=200, documented_max=MAX_PURPOSE_TEXT)]] = Field(
        max_length=20,
        json_schema_extra={"minItems": 1, "maxItems": MAX_PURPOSES},
        examples=[["银行开户"]],
        description=f"委托事项, 1–{MAX_PURPOSES} different texts; a counter's reason must name one",
    )
    until: str = Field(
        max_length=40,
        examples=["2027-06-30"],
        description="委托期限: YYYY-MM-DD (end of day, China time) or ISO 8601; within the "
        "credential's validity and a year",
    )


class DelegationRevokeBody(Strict):
    proof: str = Field(
        min_length=1, max_length=4096, description="holder proof JWT of the delegated credential"
    )
    delegation_id: str = Field(min_length=1, max_length=64, examples=["dl-…"])


class ReferenceResolveBody(Strict):
    code: str = Field(
        min_length=1, max_length=64, examples=["330100-ABCD-EFGH-JKLM-NP23", "ABCD-EFGH-JKLM-NP23"]
    )
    reason: str = text(
        max_length=200,
        examples=["旅馆住宿登记"],
        description=TEXT_RULE,
    )


class PresentationRequestOut(BaseModel):
    id: str
    client_id: str
    request_uri: str
    uri: str = Field(description="openid4vp://?client_id=…&request_uri=… (what the QR says)")
    qr_png: str
    expires_at: int


class ZhEn(BaseModel):
    zh: str
    en: str


class RequestableField(BaseModel):
    name: str = Field(examples=["name"])
    label: ZhEn
    trust_mark: str | None = Field(
        default=None,
        description="null: the counter's registered role allows it; else the type of the "
        "trust mark whose role would (checked, with its status, when a request needs it) "
        "由信任标志授予的字段",
    )


class RequestableType(BaseModel):
    type: str = Field(examples=["resident-eid"])
    name: ZhEn
    fields: list[RequestableField] = Field(description="in the type's order 按证照字段顺序")


class CounterCity(BaseModel):
    name: str = Field(examples=["杭州市"])
    code: str = Field(examples=["330100"], description="GB/T 2260")


class CounterRole(BaseModel):
    code: str = Field(examples=["hotel-desk"])
    name: ZhEn


class CounterMark(BaseModel):
    type: str = Field(description="trust_mark_type: {anchor}/trust-marks/verifier-role/{role}")
    role: CounterRole


class CounterOut(BaseModel):
    """Who the counter holding the key is and what its role lets it ask a wallet for."""

    id: str
    name: str
    entity_id: str = Field(description="its federation leaf 联邦实体标识")
    city: CounterCity
    role: CounterRole
    trust_marks: list[CounterMark] = Field(
        description="role marks the counter carries 核验点持有的角色信任标志"
    )
    may_request: list[RequestableType]
    reason_max_length: int = Field(description="用证事由 at most this many characters")
    request_ttl: int = Field(description="seconds a request stays answerable 请求有效秒数")
