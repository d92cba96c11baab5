"""Errors the service layer raises for the HTTP and CLI faces to translate."""

from __future__ import annotations

from trust.errors import DataError, EcertError


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


class BadRequest(DataError):
    """The request asks for something the endpoint never answers (e.g. a gateway's statement
    about itself from its own fetch endpoint)."""


class InvalidTrustAnchor(NotFound):
    """A resolver was asked about a trust anchor it does not use (OpenID Federation 1.0 §8.9
    ``invalid_trust_anchor``)."""


class InvalidSubject(NotFound):
    """An endpoint cannot serve the subject it was asked about (§8.9 ``invalid_subject``)."""
