"""An error's message as the API answers it: ``message`` zh-CN, ``message_en`` English.

Service code raises with one message, written one of two ways:
- ``"中文说明 · English detail"`` (the CLI prints it as is): the API answers the Chinese part as
  ``message`` and the English part as ``message_en``;
- ``"English detail"`` (most, technical: "expected …, found …"): ``message`` is the Chinese name
  of the error's kind (:func:`gateway.errors.in_chinese`) followed by that detail,
  ``message_en`` the detail.
Either way ``message`` starts in Chinese and ``message_en`` holds no Chinese of ours (a name or
value it quotes may). The gateway's source holds to the two forms
(``tests/gateway/test_error_languages.py`` reads it). Before, a two-language message was
answered whole in both fields (issue 12: "API messages mix languages").

Deliberately not here: errors that carry their two messages as attributes (``message_zh``,
``message_en``: :class:`gateway.errors.Unprocessable` and the OAuth-shaped ones), which their
handlers answer directly.
"""

from __future__ import annotations

from gateway.errors import in_chinese
from trust.errors import EcertError

SEPARATOR = " · "


def has_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def split(exc: EcertError) -> tuple[str, str]:
    """``(message, message_en)`` of ``exc``."""
    text = str(exc)
    zh, sep, en = text.partition(SEPARATOR)
    if sep and has_chinese(zh) and en.strip():
        return zh.strip(), en.strip()
    # An English detail, which may quote Chinese data (an agency's name): the kind, then it.
    return f"{in_chinese(exc)}：{text}", text
