"""The fixed list of verification reason codes, with counter-ready zh-CN and English text.

Every verification answer carries exactly one of these. The list is part of the public API:
codes are never renamed, only added.
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    VALID = "VALID"
    EXPIRED = "EXPIRED"
    NOT_YET_VALID = "NOT_YET_VALID"
    BAD_SIGNATURE = "BAD_SIGNATURE"
    UNKNOWN_ISSUER = "UNKNOWN_ISSUER"
    KEY_NOT_VALID_AT_ISSUANCE = "KEY_NOT_VALID_AT_ISSUANCE"
    ISSUER_NOT_AUTHORISED = "ISSUER_NOT_AUTHORISED"
    REVOKED = "REVOKED"
    SUSPENDED = "SUSPENDED"
    STATUS_UNAVAILABLE = "STATUS_UNAVAILABLE"
    TRUST_LIST_STALE = "TRUST_LIST_STALE"
    MALFORMED = "MALFORMED"
    UNSUPPORTED = "UNSUPPORTED"
    NOT_ACCEPTED_BY_POLICY = "NOT_ACCEPTED_BY_POLICY"
    # A wallet's presentation (OpenID4VP): the holder did not prove the key the credential is
    # bound to for this request, or disclosed other fields than the counter asked for.
    HOLDER_BINDING_FAILED = "HOLDER_BINDING_FAILED"
    DISCLOSURE_NOT_REQUESTED = "DISCLOSURE_NOT_REQUESTED"
    CLAIM_NOT_DISCLOSED = "CLAIM_NOT_DISCLOSED"
    # A reference code (亮证码) a counter resolves: no such code, its 300 s are over, or it was
    # resolved already (a code dies at first use).
    REFERENCE_UNKNOWN = "REFERENCE_UNKNOWN"
    REFERENCE_EXPIRED = "REFERENCE_EXPIRED"
    REFERENCE_USED = "REFERENCE_USED"
    # A credential shown by a delegate (委托用证): the holder revoked the delegation, its "until"
    # passed, or the counter's stated reason is none of the purposes it was given for.
    DELEGATION_REVOKED = "DELEGATION_REVOKED"
    DELEGATION_EXPIRED = "DELEGATION_EXPIRED"
    DELEGATION_OUT_OF_SCOPE = "DELEGATION_OUT_OF_SCOPE"


# (zh-CN, English): short headline a clerk reads at a glance.
MESSAGES: dict[Reason, tuple[str, str]] = {
    Reason.VALID: ("证照有效", "Certificate is valid"),
    Reason.EXPIRED: ("证照已过有效期", "Certificate has expired"),
    Reason.NOT_YET_VALID: ("证照尚未生效", "Certificate is not yet valid"),
    Reason.BAD_SIGNATURE: (
        "签名无效，证照可能被篡改",
        "Signature invalid: the certificate may be forged",
    ),
    Reason.UNKNOWN_ISSUER: ("签发机构不在信任列表中", "Issuer is not in the trust list"),
    Reason.KEY_NOT_VALID_AT_ISSUANCE: (
        "签发时所用密钥已失效或已泄露",
        "The signing key was not valid when this was issued (retired or compromised)",
    ),
    Reason.ISSUER_NOT_AUTHORISED: (
        "签发机构无权签发此类证照",
        "Issuer is not authorised for this certificate type",
    ),
    Reason.REVOKED: ("证照已被撤销", "Certificate has been revoked"),
    Reason.SUSPENDED: ("证照已被暂扣（暂停使用）", "Certificate is suspended"),
    Reason.STATUS_UNAVAILABLE: (
        "无法获取证照状态，请稍后重试",
        "Certificate status is unavailable; try again later",
    ),
    Reason.TRUST_LIST_STALE: (
        "信任列表已过期，无法判断",
        "Trust list has expired; cannot decide",
    ),
    Reason.MALFORMED: ("二维码内容无法识别", "QR content is not a certificate"),
    Reason.UNSUPPORTED: ("不支持的证照格式或算法", "Unsupported certificate format or algorithm"),
    Reason.NOT_ACCEPTED_BY_POLICY: (
        "本地区政策不接受此类证照",
        "Not accepted under this region's policy",
    ),
    Reason.HOLDER_BINDING_FAILED: (
        "持证人绑定未通过（非本人密钥或非本次请求）",
        "Holder binding failed: not the holder's key, or not for this request",
    ),
    Reason.DISCLOSURE_NOT_REQUESTED: (
        "出示了未被索取的字段",
        "The presentation disclosed fields that were not requested",
    ),
    Reason.CLAIM_NOT_DISCLOSED: (
        "未出示所索取的字段",
        "The presentation lacks a requested field",
    ),
    Reason.REFERENCE_UNKNOWN: (
        "亮证码无效（不存在），请持证人重新出示",
        "No such reference code; ask the holder to show a new one",
    ),
    Reason.REFERENCE_EXPIRED: (
        "亮证码已过期（5 分钟），请持证人刷新后重新出示",
        "The reference code has expired (5 minutes); ask the holder for a fresh one",
    ),
    Reason.REFERENCE_USED: (
        "亮证码已被使用过（每个码只能核验一次）",
        "The reference code was used already (each code resolves once)",
    ),
    Reason.DELEGATION_REVOKED: (
        "持证人已撤销对该代理人的委托",
        "The holder has revoked this delegate's authorisation",
    ),
    Reason.DELEGATION_EXPIRED: (
        "委托已过期限",
        "The delegation has expired",
    ),
    Reason.DELEGATION_OUT_OF_SCOPE: (
        "用证事由不在委托范围内",
        "The stated reason is outside the purposes of the delegation",
    ),
}
