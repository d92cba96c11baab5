"""Fields the issuer derives from another field of the same subject, for the SD-JWT VC.

Selective disclosure shows a claim whole or not at all; it cannot show part of a value. A
counter that may see only part of an ID number (a hotel desk: ``330106********1234``) asks for
a claim of its own, which the issuer computes from the full value when it signs the credential
and makes a Disclosure like any other (as the EUDI PID does with ``age_over_18``). A type file
declares such a field with ``"derived": {"from": <field>, "rule": <rule>}``; the rules are
:data:`RULES`.

- ``keep-first-6-last-4``: a GB 11643 公民身份号码 with positions 7-14 (the birth date) hidden,
  ``330106********1234``, as counters in China print it. Only an 18-character ID number is
  masked; anything else is refused (:class:`trust.errors.FieldError`, the ID number's own
  wording), never masked by guesswork, so a masked value always hides the same 8 characters.

Deliberately not here: which fields a type derives (the type files, checked by
:mod:`issuers.credential_types`), signing (:mod:`trust.sdjwt`), and the agency's input, where a
derived field is refused (:mod:`issuers.subjects`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from issuers.validation import ID_NUMBER_LENGTH, fail

MASK = "*"
_ID_SHAPE = re.compile(r"[0-9]{17}[0-9X]")


def keep_first_6_last_4(value: object, *, field: str = "id_number") -> str:
    """``330106198506151233`` → ``330106********1233``; refuses a value that is not an
    18-character ID number (digits, the last may be ``X``)."""
    if not isinstance(value, str):
        raise fail(field, "not_text", what_zh="公民身份号码", what_en="ID number",
                   found=type(value).__name__)  # fmt: skip
    if len(value) != ID_NUMBER_LENGTH:
        raise fail(field, "id_length", found=len(value))
    if not _ID_SHAPE.fullmatch(value):
        raise fail(field, "id_charset", found=repr(value))
    return value[:6] + MASK * (ID_NUMBER_LENGTH - 10) + value[-4:]


@dataclass(frozen=True)
class Rule:
    """A derivation: the ``x-check`` its source field must have, the function, and how it is
    described to wallets (Type Metadata), ``{source}`` standing for the source field's label."""

    source_check: str
    derive: Callable[..., str]
    description_zh: str
    description_en: str


RULES: dict[str, Rule] = {
    "keep-first-6-last-4": Rule(
        source_check="id_number",
        derive=keep_first_6_last_4,
        description_zh="由签发方根据“{source}”生成，只显示前 6 位和后 4 位",
        description_en="derived by the issuer from {source}: only the first 6 and the last 4 "
        "characters are shown",
    ),
}
