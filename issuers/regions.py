"""GB/T 2260 administrative division codes (行政区划代码) with validity dates.

Codes are created, renamed and abolished every year, and old codes live on in ID numbers and
old records, so each row of ``issuers/data/regions.csv`` carries ``valid_from`` (inclusive) and
``valid_to`` (exclusive: the day the code stopped being used). History is recorded from
:data:`HISTORY_FROM`: an empty ``valid_from`` means the code was already in use on that day, and
this table cannot answer for earlier dates. Dates are the day a change was announced to take
effect (e.g. 杭州 2021-04-09, 巢湖 2011-08-22).

The shipped table is a hand-checked subset, not the whole of GB/T 2260: every province-level
division, the prefecture-level cities of 北京, 天津, 河北, 上海, 江苏, 浙江 and 安徽, and the
county-level codes the demos need. An unknown code is an error, never a guess.

This module does not check the region part of an ID number (``issuers.validation`` does that
with python-stdnum's full historical list) and does no I/O beyond reading the shipped CSV.
"""

from __future__ import annotations

import csv
import functools
import io
import itertools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from trust.errors import DataError, FetchError

SHIPPED_TABLE = Path(__file__).parent / "data" / "regions.csv"
HISTORY_FROM = date(2002, 1, 1)
LEVELS = ("province", "prefecture", "county")
COLUMNS = ("code", "name_zh", "name_en", "level", "valid_from", "valid_to")
_CODE = re.compile(r"[0-9]{6}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_MAX_ROWS = 10_000


class RegionCodeError(DataError):
    """A region code that is malformed, unknown, or not in use on the date asked about.

    ``reason`` is one of ``malformed``, ``unknown``, ``abolished``, ``not_yet_created``,
    ``before_history``, ``not_in_use``; ``region`` is the version the message refers to and
    ``changed_on`` the date of the abolition or creation, where they apply.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str,
        reason: str,
        region: Region | None = None,
        changed_on: date | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.region = region
        self.changed_on = changed_on


def _level_of(code: str) -> str:
    # GB/T 2260: digits 1-2 province, 3-4 prefecture, 5-6 county; "00" pads a higher level.
    if code.endswith("0000"):
        return "province"
    if code.endswith("00"):
        return "prefecture"
    return "county"


@dataclass(frozen=True)
class Region:
    """One version of a region code: its names, level and validity window."""

    code: str
    name_zh: str
    name_en: str
    level: str
    valid_from: date | None = None
    valid_to: date | None = None

    def __post_init__(self) -> None:
        if not _CODE.fullmatch(self.code):
            raise DataError(f"a region code has 6 digits, found {self.code!r}")
        if self.level not in LEVELS:
            raise DataError(f"region level must be one of {LEVELS}, found {self.level!r}")
        if self.level != _level_of(self.code):
            raise DataError(
                f"region code {self.code} has the shape of a {_level_of(self.code)}-level code, "
                f"but its level is {self.level!r}"
            )
        if not self.name_zh or not self.name_en:
            raise DataError(f"region code {self.code} needs a Chinese and an English name")
        if self.valid_from and self.valid_to and self.valid_from >= self.valid_to:
            raise DataError(
                f"region code {self.code}: valid_from {self.valid_from} must be before "
                f"valid_to {self.valid_to}"
            )

    def valid_on(self, day: date) -> bool:
        """True if the code was in use on ``day`` (``valid_to`` is exclusive)."""
        if self.valid_from is not None and day < self.valid_from:
            return False
        return self.valid_to is None or day < self.valid_to

    @property
    def province_code(self) -> str:
        return self.code[:2] + "0000"

    @property
    def prefecture_code(self) -> str | None:
        return None if self.level == "province" else self.code[:4] + "00"


def _parse_row_date(value: str, column: str, where: str) -> date | None:
    if value == "":
        return None
    if not _DATE.fullmatch(value):
        raise DataError(f"{where}: {column} must be YYYY-MM-DD or empty, found {value!r}")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise DataError(f"{where}: {column} {value!r} is not a real date") from exc


class RegionTable:
    """Region code versions indexed by code. Built from rows; checks that versions don't overlap."""

    def __init__(self, regions: Iterable[Region]) -> None:
        by_code: dict[str, list[Region]] = {}
        for region in regions:
            by_code.setdefault(region.code, []).append(region)
        for code, versions in by_code.items():
            versions.sort(key=lambda r: r.valid_from or date.min)
            for earlier, later in itertools.pairwise(versions):
                if earlier.valid_to is None or later.valid_from is None:
                    raise DataError(
                        f"region code {code} has overlapping versions: {earlier.name_zh} and "
                        f"{later.name_zh} both lack the date that would separate them"
                    )
                if earlier.valid_to > later.valid_from:
                    raise DataError(
                        f"region code {code} has overlapping versions: {earlier.name_zh} until "
                        f"{earlier.valid_to}, {later.name_zh} from {later.valid_from}"
                    )
        self._by_code = by_code

    @classmethod
    def from_csv_text(cls, text: str, *, source: str = "regions.csv") -> RegionTable:
        """Build a table from CSV text with the header ``code,name_zh,name_en,level,...``."""
        reader = csv.DictReader(io.StringIO(text))
        if tuple(reader.fieldnames or ()) != COLUMNS:
            raise DataError(
                f"{source}: expected the header {','.join(COLUMNS)}, "
                f"found {','.join(reader.fieldnames or ())!r}"
            )
        regions: list[Region] = []
        for row in reader:
            where = f"{source} line {reader.line_num}"
            if len(regions) >= _MAX_ROWS:
                raise DataError(f"{source}: more than {_MAX_ROWS} rows")
            if None in row or any(v is None for v in row.values()):
                raise DataError(f"{where}: expected {len(COLUMNS)} columns")
            try:
                regions.append(
                    Region(
                        code=row["code"],
                        name_zh=row["name_zh"],
                        name_en=row["name_en"],
                        level=row["level"],
                        valid_from=_parse_row_date(row["valid_from"], "valid_from", where),
                        valid_to=_parse_row_date(row["valid_to"], "valid_to", where),
                    )
                )
            except DataError as exc:
                raise DataError(f"{where}: {exc}") from exc
        try:
            return cls(regions)
        except DataError as exc:
            raise DataError(f"{source}: {exc}") from exc

    @classmethod
    def load(cls, path: Path | None = None) -> RegionTable:
        """The shipped table (or the CSV at ``path``), read once and cached."""
        return _load_cached(path or SHIPPED_TABLE)

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def __iter__(self) -> Iterator[Region]:
        for versions in self._by_code.values():
            yield from versions

    def __len__(self) -> int:
        return len(self._by_code)

    def lookup(self, code: str, *, on: date | None = None) -> Region:
        """The version of ``code`` in use ``on`` that day, or its latest version if ``on`` is None.

        Raises :class:`DataError` if the code is unknown, or (with ``on``) was not in use that day.
        """
        if not isinstance(code, str) or not _CODE.fullmatch(code):
            found = repr(code[:20]) if isinstance(code, str) else type(code).__name__
            raise RegionCodeError(
                f"a region code (GB/T 2260) has 6 digits, found {found}",
                code=str(code)[:20],
                reason="malformed",
            )
        versions = self._by_code.get(code)
        if not versions:
            raise RegionCodeError(
                f"region code {code} is not a known GB/T 2260 code in the region table",
                code=code,
                reason="unknown",
            )
        if on is None:
            return versions[-1]
        for region in versions:
            if region.valid_on(on):
                if region.valid_from is None and on < HISTORY_FROM:
                    raise RegionCodeError(
                        f"the region table records validity from {HISTORY_FROM} only; "
                        f"cannot tell whether region code {code} was in use on {on}",
                        code=code,
                        reason="before_history",
                        region=region,
                    )
                return region
        first, last = versions[0], versions[-1]
        if last.valid_to is not None and on >= last.valid_to:
            raise RegionCodeError(
                f"region code {code} ({last.name_zh}) was abolished on {last.valid_to}; "
                f"it is not valid on {on}",
                code=code,
                reason="abolished",
                region=last,
                changed_on=last.valid_to,
            )
        if first.valid_from is not None and on < first.valid_from:
            raise RegionCodeError(
                f"region code {code} ({first.name_zh}) was created on {first.valid_from}; "
                f"it is not valid on {on}",
                code=code,
                reason="not_yet_created",
                region=first,
                changed_on=first.valid_from,
            )
        raise RegionCodeError(
            f"region code {code} was not in use on {on}", code=code, reason="not_in_use"
        )

    def full_name_zh(self, region: Region) -> str:
        """Province + prefecture + own name, e.g. 浙江省杭州市下城区 (skipping 市辖区)."""
        parts = []
        for code in (region.province_code, region.prefecture_code):
            if code is not None and code != region.code and code in self._by_code:
                name = self._by_code[code][-1].name_zh
                if name != "市辖区":
                    parts.append(name)
        if region.name_zh != "市辖区" or not parts:
            parts.append(region.name_zh)
        return "".join(parts)


@functools.cache
def _load_cached(path: Path) -> RegionTable:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise FetchError(f"cannot read the region table {path}: {exc}") from exc
    return RegionTable.from_csv_text(text, source=str(path.name))
