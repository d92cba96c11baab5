"""GB/T 36904-2018 证照标识 (electronic licence identifiers): build, print, parse, check.

An identifier is ``1.2.156.3005.2 . 证照类型代码 . 颁发机构代码 . 流水号 . 版本号 . 校验位``:

- 证照类型代码: the USCC of the authority that defines the licence type + a 3-digit sequence;
- 颁发机构代码: the issuing agency's USCC, or (in some cities) a 6-digit GB/T 2260 region code;
- 流水号: the agency's serial number (digits and upper-case letters);
- 版本号: 3 digits;
- 校验位: ISO 7064 MOD 37,36 over the four middle segments concatenated without dots.

A QR token carries only ``jti`` = ``{流水号}.{版本号}``; a verifier rebuilds the identifier from
the token's type and the issuer's code (:meth:`LicenceIdentifier.from_jti`).

This module checks the *shape* of the embedded codes only. It does not check a USCC's own
GB 32100 check character (early pilot codes fail it and still appear in identifiers) nor whether
a region code exists: that needs the region table in ``issuers/``. Shared by issuing and
verifying, so it is pure and lives in ``trust/``.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from trust.errors import DataError

ROOT = "1.2.156.3005.2"
WRONG_ROOT = "1.2.156.3003.2"  # seen in the wild; never valid
MAX_SERIAL_LENGTH = 32
# A bound on untrusted input before it is split; well above the longest valid form (94).
MAX_IDENTIFIER_LENGTH = 256
_ROOT_ARCS = len(ROOT.split("."))

# GB 32100-2015 code structure: 18 characters, digits and upper-case letters but I, O, Z, S, V.
_USCC_CHARS = "0-9A-HJ-NP-RTUW-Y"
_TYPE_CODE = re.compile(rf"[{_USCC_CHARS}]{{18}}[0-9]{{3}}")
_AGENCY_USCC = re.compile(rf"[{_USCC_CHARS}]{{18}}")
_AGENCY_REGION = re.compile(r"[0-9]{6}")
_SERIAL = re.compile(rf"[0-9A-Z]{{1,{MAX_SERIAL_LENGTH}}}")
_VERSION = re.compile(r"[0-9]{3}")
_ONE_CHAR = re.compile(r"[0-9A-Za-z]")


def _shown(value: str, limit: int = 40) -> str:
    """``repr`` of untrusted text, cut short so an error message stays bounded."""
    return repr(value if len(value) <= limit else value[:limit] + "…")


# ISO 7064 MOD 37,36 (the 校验位), as python-stdnum's ``mod_37_36`` computes it, written here
# so that it can resume: every identifier of an agency and type starts with the same 39
# characters (type code and agency code), and their state is computed once. stdnum's function
# starts from the first character each time (~6 µs an identifier of a register's 20 µs of
# Python a row, issue 13); tests/test_identifiers.py compares the two on random input.
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_MODULUS = len(_ALPHABET)  # 36
_VALUES = {c: v for v, c in enumerate(_ALPHABET)}


def _mod_37_36(check: int, text: str) -> int:
    for char in text:
        check = (((check or _MODULUS) * 2) % (_MODULUS + 1) + _VALUES[char]) % _MODULUS
    return check


@functools.lru_cache(maxsize=256)
def _prefix_state(prefix: str) -> int:
    return _mod_37_36(_MODULUS // 2, prefix)


def check_character(prefix: str, rest: str) -> str:
    """The MOD 37,36 check character of ``prefix + rest`` (digits and upper-case letters), the
    state after ``prefix`` kept for the next call (:class:`KeyError` on any other character)."""
    check = _mod_37_36(_prefix_state(prefix), rest)
    return _ALPHABET[(1 - ((check or _MODULUS) * 2) % (_MODULUS + 1)) % _MODULUS]


def _check_type_code(value: object) -> str:
    if not isinstance(value, str) or not _TYPE_CODE.fullmatch(value):
        found = _shown(value) if isinstance(value, str) else type(value).__name__
        raise DataError(
            "证照类型代码 (licence type code) must be an 18-character USCC followed by a "
            f"3-digit sequence (21 characters), found {found}"
        )
    return value


def _check_agency_code(value: object) -> str:
    if not isinstance(value, str) or not (
        _AGENCY_USCC.fullmatch(value) or _AGENCY_REGION.fullmatch(value)
    ):
        found = _shown(value) if isinstance(value, str) else type(value).__name__
        raise DataError(
            "颁发机构代码 (issuing agency code) must be an 18-character USCC or a 6-digit "
            f"region code, found {found}"
        )
    return value


@functools.lru_cache(maxsize=256)
def _check_codes(type_code: str, agency_code: str) -> None:
    """Both codes checked; only a pair that passed is remembered (a refusal raises)."""
    _check_type_code(type_code)
    _check_agency_code(agency_code)


def _check_serial(value: object) -> str:
    if not isinstance(value, str) or not _SERIAL.fullmatch(value):
        found = _shown(value) if isinstance(value, str) else type(value).__name__
        raise DataError(
            f"流水号 (serial) must be 1 to {MAX_SERIAL_LENGTH} digits or upper-case letters, "
            f"found {found}"
        )
    return value


def _check_version(value: object) -> str:
    if not isinstance(value, str) or not _VERSION.fullmatch(value):
        found = _shown(value) if isinstance(value, str) else type(value).__name__
        raise DataError(f"版本号 (version) must be exactly 3 digits, found {found}")
    return value


@dataclass(frozen=True)
class LicenceIdentifier:
    """A GB/T 36904 证照标识. Every field is checked when the object is built."""

    type_code: str
    agency_code: str
    serial: str
    version: str

    def __post_init__(self) -> None:
        if isinstance(self.type_code, str) and isinstance(self.agency_code, str):
            _check_codes(self.type_code, self.agency_code)  # an issuer's are checked once
        else:
            _check_type_code(self.type_code)
            _check_agency_code(self.agency_code)
        _check_serial(self.serial)
        _check_version(self.version)

    @property
    def check(self) -> str:
        """The 校验位: ISO 7064 MOD 37,36 over the four middle segments without dots."""
        return check_character(self.type_code + self.agency_code, self.serial + self.version)

    @property
    def jti(self) -> str:
        """The ``jti`` claim a QR token carries: ``{流水号}.{版本号}``."""
        return f"{self.serial}.{self.version}"

    def __str__(self) -> str:
        return ".".join(
            (ROOT, self.type_code, self.agency_code, self.serial, self.version, self.check)
        )

    @classmethod
    def from_jti(cls, type_code: str, agency_code: str, jti: str) -> LicenceIdentifier:
        """Rebuild the identifier from a token's ``jti`` and the type and issuer codes."""
        if not isinstance(jti, str) or len(jti) > MAX_SERIAL_LENGTH + 4:
            found = _shown(jti) if isinstance(jti, str) else type(jti).__name__
            raise DataError(f"jti must be '{{serial}}.{{version}}', found {found}")
        serial, dot, version = jti.rpartition(".")
        if not dot:
            raise DataError(f"jti must be '{{serial}}.{{version}}', found {_shown(jti)}")
        return cls(type_code=type_code, agency_code=agency_code, serial=serial, version=version)

    @classmethod
    def parse(cls, text: str) -> LicenceIdentifier:
        """Parse and check the full dotted form; raise :class:`DataError` saying what is wrong."""
        if not isinstance(text, str):
            raise DataError(f"a licence identifier must be text, found {type(text).__name__}")
        text = text.strip()
        if len(text) > MAX_IDENTIFIER_LENGTH:
            raise DataError(
                f"a licence identifier has at most {MAX_IDENTIFIER_LENGTH} characters, "
                f"found {len(text)}"
            )
        arcs = text.split(".")
        root = ".".join(arcs[:_ROOT_ARCS])
        # GB/T 36904: every identifier starts with the 电子证照 object identifier arc.
        if root == WRONG_ROOT:
            raise DataError(
                f"licence identifier root must be {ROOT}, found {WRONG_ROOT}: that root is a "
                "known mistake seen in some systems and is not a GB/T 36904 identifier"
            )
        if root != ROOT:
            raise DataError(f"licence identifier root must be {ROOT}, found {_shown(root)}")
        segments = arcs[_ROOT_ARCS:]
        if len(segments) != 5:
            raise DataError(
                "a licence identifier has 5 segments after the root (type code, agency code, "
                f"serial, version, check character), found {len(segments)}"
            )
        type_code, agency_code, serial, version, found_check = segments
        identifier = cls(type_code, agency_code, serial, version)
        # GB/T 36904 校验位: ISO 7064 MOD 37,36 over the four middle segments.
        if found_check != identifier.check:
            found = found_check if _ONE_CHAR.fullmatch(found_check) else _shown(found_check)
            raise DataError(
                f"licence identifier {_shown(text, 100)}: expected check character "
                f"{identifier.check}, found {found}"
            )
        return identifier
