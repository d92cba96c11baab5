"""Checks for Chinese identifiers and dates found in certificate subjects.

- 统一社会信用代码 (GB 32100-2015): shape and check character; an early pilot code whose check
  character is wrong passes only if the gateway's allowlist names it.
- 公民身份号码 (GB 11643-1999): length, digits, ISO 7064 MOD 11-2 check, a real birth date,
  a region code known for the year of birth (python-stdnum's historical list, because ID
  numbers keep codes that were abolished long ago).
- Dates in ``YYYY-MM-DD`` form only.

Every function raises :class:`trust.errors.FieldError` with one problem
(``{"field", "code", "message", "message_en"}``) so that callers can gather problems from many
fields into one answer. Region codes in their own right are checked in ``issuers.regions``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Literal

from stdnum.cn import ric, uscc
from stdnum.exceptions import ValidationError

from trust.errors import FieldError

USCC_LENGTH = 18
ID_NUMBER_LENGTH = 18
# GB 32100-2015 code structure: positions 1-2 registering authority and entity type (digits or
# letters, e.g. N for rural collectives), 3-8 a GB/T 2260 region code, 9-17 the organisation
# code, 18 the check character; letters I, O, Z, S, V are never used.
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_SHAPE = re.compile(rf"[{_USCC_ALPHABET}]{{2}}[0-9]{{6}}[{_USCC_ALPHABET}]{{10}}")
_ID_SHAPE = re.compile(r"[0-9]{17}[0-9X]")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_SHOWN = 24

Sex = Literal["男", "女"]


def problem(field: str, code: str, message: str, message_en: str) -> dict[str, str]:
    """One entry of :attr:`FieldError.errors`."""
    return {"field": field, "code": code, "message": message, "message_en": message_en}


def _fail(field: str, code: str, message: str, message_en: str) -> FieldError:
    return FieldError([problem(field, code, message, message_en)])


def _shown(value: str) -> str:
    return repr(value if len(value) <= _SHOWN else value[:_SHOWN] + "…")


def _require_text(value: object, field: str, what_zh: str, what_en: str) -> str:
    if not isinstance(value, str):
        raise _fail(
            field,
            "type",
            f"{what_zh}应为字符串，实际为 {type(value).__name__}",
            f"{what_en} must be a string, found {type(value).__name__}",
        )
    return value


def validate_uscc(
    value: str, *, allowlist: frozenset[str] = frozenset(), field: str = "uscc"
) -> str:
    """Return the normalised USCC (stripped, upper case) or raise :class:`FieldError`."""
    text = _require_text(value, field, "统一社会信用代码", "USCC").strip().upper()
    if len(text) != USCC_LENGTH:
        raise _fail(
            field,
            "length",
            f"统一社会信用代码应为 {USCC_LENGTH} 位，实际为 {len(text)} 位",
            f"a USCC has {USCC_LENGTH} characters, found {len(text)}",
        )
    if not _USCC_SHAPE.fullmatch(text):
        raise _fail(
            field,
            "charset",
            "统一社会信用代码含有不允许的字符（第 3-8 位应为数字，不得使用 I、O、Z、S、V）："
            f"{_shown(text)}",
            "a USCC uses digits and upper-case letters except I, O, Z, S, V, with digits in "
            f"positions 3-8; found {_shown(text)}",
        )
    # GB 32100-2015 校验码: weights 3^i mod 31, check = (31 - sum mod 31) mod 31.
    expected = str(uscc.calc_check_digit(text[:-1]))
    if text[-1] != expected and text not in {a.strip().upper() for a in allowlist}:
        raise _fail(
            field,
            "checksum",
            f"统一社会信用代码校验码错误：应为 {expected}，实际为 {text[-1]}",
            f"USCC check character: expected {expected}, found {text[-1]}",
        )
    return text


@dataclass(frozen=True)
class IdNumberInfo:
    """What a 公民身份号码 says about its holder."""

    birth_date: date
    region_code: str
    sex: Sex
    number: str

    @property
    def sex_en(self) -> str:
        return "male" if self.sex == "男" else "female"


def validate_id_number(
    value: str, *, field: str = "id_number", today: date | None = None
) -> IdNumberInfo:
    """Check a GB 11643 ID number; with ``today``, the birth date must not be in the future."""
    text = _require_text(value, field, "公民身份号码", "ID number").strip().upper()
    if len(text) != ID_NUMBER_LENGTH:
        raise _fail(
            field,
            "length",
            f"公民身份号码应为 {ID_NUMBER_LENGTH} 位，实际为 {len(text)} 位",
            f"an ID number has {ID_NUMBER_LENGTH} characters, found {len(text)}",
        )
    if not _ID_SHAPE.fullmatch(text):
        raise _fail(
            field,
            "charset",
            f"公民身份号码应为 17 位数字加 1 位数字或 X：{_shown(text)}",
            f"an ID number is 17 digits and a digit or X, found {_shown(text)}",
        )
    # GB 11643-1999 校验码: ISO 7064 MOD 11-2 over the first 17 digits, 10 written as X.
    expected = str(ric.calc_check_digit(text))
    if text[-1] != expected:
        raise _fail(
            field,
            "checksum",
            f"公民身份号码校验码错误：应为 {expected}，实际为 {text[-1]}",
            f"ID number check character: expected {expected}, found {text[-1]}",
        )
    # GB 11643-1999: positions 7-14 are the birth date YYYYMMDD.
    try:
        birth = ric.get_birth_date(text)
    except ValidationError as exc:
        raise _fail(
            field,
            "birth_date",
            f"公民身份号码中的出生日期 {text[6:14]} 不是有效日期",
            f"the birth date {text[6:14]} in the ID number is not a real date",
        ) from exc
    if today is not None and birth > today:
        raise _fail(
            field,
            "birth_date",
            f"公民身份号码中的出生日期 {birth} 晚于今天 {today}",
            f"the birth date {birth} in the ID number is after today ({today})",
        )
    # GB 11643-1999: positions 1-6 are the GB/T 2260 code of the registered address, as it was
    # when the number was assigned.
    try:
        ric.get_birth_place(text)
    except ValidationError as exc:
        raise _fail(
            field,
            "region",
            f"公民身份号码中的地址码 {text[:6]} 在 {birth.year} 年不是有效的行政区划代码",
            f"the region code {text[:6]} in the ID number was not in use in {birth.year}",
        ) from exc
    # GB 11643-1999: the sequence code (positions 15-17) is odd for men, even for women.
    sex: Sex = "男" if int(text[16]) % 2 else "女"
    return IdNumberInfo(birth_date=birth, region_code=text[:6], sex=sex, number=text)


def parse_date(value: object, field: str) -> date:
    """Parse ``YYYY-MM-DD`` (ISO 8601 calendar date, extended form) and nothing else."""
    if not isinstance(value, str):
        raise _fail(
            field,
            "type",
            f"日期应为 YYYY-MM-DD 格式的字符串，实际为 {type(value).__name__}",
            f"a date must be a YYYY-MM-DD string, found {type(value).__name__}",
        )
    if not _DATE.fullmatch(value):
        raise _fail(
            field,
            "date_format",
            f"日期格式应为 YYYY-MM-DD，实际为 {_shown(value)}",
            f"a date must look like YYYY-MM-DD, found {_shown(value)}",
        )
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise _fail(
            field,
            "date",
            f"{value} 不是有效日期",
            f"{value} is not a real calendar date",
        ) from exc
