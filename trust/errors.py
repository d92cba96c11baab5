"""One exception tree for the whole gateway.

``EcertError`` is the base. ``DataError`` means the input itself is bad (a caller can do nothing
but reject it); ``FetchError`` means something could not be obtained (a caller may retry or fall
back to cached data). Messages say what was expected and what was found.
"""

from __future__ import annotations


class EcertError(Exception):
    """Base of every error this project raises on purpose."""


class DataError(EcertError):
    """The data is malformed, fails a check or breaks a rule."""


class FetchError(EcertError):
    """Something could not be fetched or read: network, file or store."""


class FieldError(DataError):
    """One or more input fields are invalid.

    ``errors`` is a list of ``{"field", "code", "message", "message_en"}`` dicts, one per problem,
    so an API can return all of them at once.
    """

    def __init__(self, errors: list[dict[str, str]]) -> None:
        self.errors = errors
        summary = "; ".join(f"{e['field']}: {e.get('message_en') or e['message']}" for e in errors)
        super().__init__(summary or "invalid input")

    @classmethod
    def single(cls, field: str, code: str, message_zh: str, message_en: str) -> FieldError:
        """One problem with one field."""
        return cls(
            [{"field": field, "code": code, "message": message_zh, "message_en": message_en}]
        )


class SignatureError(DataError):
    """A signature, header or token structure did not verify."""


class KeyError_(DataError):
    """A key could not be loaded, decrypted or used as asked."""


class StatusListError(DataError):
    """A status list or status reference is malformed."""
