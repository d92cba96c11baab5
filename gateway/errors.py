"""Errors the service layer raises for the HTTP and CLI faces to translate."""

from __future__ import annotations

from trust.errors import DataError, EcertError, FetchError, FieldError, SignatureError
from trust.federation import ChainError


class NotFound(EcertError):
    """No such record (or not visible to the caller)."""


class Forbidden(EcertError):
    """The caller is authenticated but may not do this."""


class Unauthorised(EcertError):
    """No valid credentials were presented."""


class Conflict(DataError):
    """The request contradicts the current state (e.g. reinstating a revoked certificate)."""


class Unprocessable(DataError):
    """Input that parsed but cannot be used; carries a zh-CN and an English message."""

    def __init__(self, message_zh: str, message_en: str) -> None:
        super().__init__(message_en)
        self.message_zh = message_zh
        self.message_en = message_en


class NotAcceptable(EcertError):
    """The request's ``Accept`` excludes every media type a document is served as (406);
    carries a zh-CN and an English message, the media types served and the ``Accept`` sent."""

    def __init__(self, message_zh: str, message_en: str, *, served: list[str], accept: str) -> None:
        super().__init__(message_en)
        self.message_zh = message_zh
        self.message_en = message_en
        self.served = served
        self.accept = accept


class TooManyRequests(EcertError):
    """The caller tried too often (429); carries zh-CN and English messages and the seconds
    after which to retry (``Retry-After``)."""

    def __init__(self, message_zh: str, message_en: str, *, retry_after: int) -> None:
        super().__init__(message_en)
        self.message_zh = message_zh
        self.message_en = message_en
        self.retry_after = retry_after


class BadRequest(DataError):
    """The request asks for something the endpoint never answers (e.g. a gateway's statement
    about itself from its own fetch endpoint)."""


class InvalidTrustAnchor(NotFound):
    """A resolver was asked about a trust anchor it does not use (OpenID Federation 1.0 §8.9
    ``invalid_trust_anchor``)."""


class InvalidSubject(NotFound):
    """An endpoint cannot serve the subject it was asked about (§8.9 ``invalid_subject``)."""


# What each kind of error is called in Chinese, most specific first: the API's ``message`` and
# the CLI's error line start with it (the detail itself is English, technical).
_IN_CHINESE: tuple[tuple[type[EcertError], str], ...] = (
    (Unauthorised, "身份验证失败"),
    (Forbidden, "无权执行此操作"),
    (NotFound, "未找到"),
    (Conflict, "与当前状态冲突"),
    (FetchError, "暂时无法获取数据"),
    (ChainError, "没有有效的信任链"),
    (SignatureError, "签名无效"),
    (FieldError, "输入有误，请检查各字段"),
    (DataError, "请求数据无效"),
)


def in_chinese(exc: EcertError) -> str:
    """The Chinese name of ``exc``'s kind (``出错`` for a kind not named above)."""
    zh = getattr(exc, "message_zh", None)
    if isinstance(zh, str) and zh:
        return zh
    return next((zh for kind, zh in _IN_CHINESE if isinstance(exc, kind)), "出错")
