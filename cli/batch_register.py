"""A register file for ``ecert issue-batch``, read in two streaming passes in bounded memory.

Pass 1 (:func:`scan`) reads every row, builds its issue request and has it validated, keeping
16 bytes a row: a hash of the row's identity, to find two rows naming one certificate, and a
hash of its content, to notice a file that changes before it is issued. Nothing is written
unless every row passed, so a bad row anywhere still issues nothing. Pass 2 (:func:`chunks`)
reads the file again and yields the requests in chunks, refusing any row that is not the one
pass 1 validated. Before (issue 8) the whole register was held in memory: 1.34 GB for 900k rows.

One rule for identical rows, wherever they fall (issue 8: two identical rows in one chunk gave
two credentials, in two chunks one): a register names each certificate once. A row's identity
is ``{batch id}:{ref}``, its ``ref`` column or else a hash of its type and subject (the same
hash as before, so re-running a register issued by an earlier version still skips its rows).
Two rows with one identity are an error naming both lines; nothing is issued.

Issue 12: a row also carries its identity whatever the file is called, ``row_key`` (its ref,
else its type and subject: :func:`gateway.batch_rows.row_key`), so the same rows under another
file name or ``--batch-id`` are found already issued. Problems are kept structured (line,
field, zh-CN, English) for ``--json``.

Deliberately not here: the database. The caller validates (``validate`` a row at a time,
``check`` a chunk at a time) and issues (:func:`gateway.batch_rows.issue_chunk`, which skips
rows already issued by any run).
"""

from __future__ import annotations

import csv
import hashlib
import heapq
import json
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

from gateway.batch_rows import row_key
from gateway.issuance import IssueRequest, canonical_text
from trust.errors import DataError

MAX_ROWS = 2_000_000
MAX_LINE = 64 * 1024  # characters a line
MAX_REF = 200  # credentials.batch_ref holds "{batch id}:{ref}" in 200 characters
DEFAULT_REF = 32  # hex characters of the default ref
MAX_PROBLEMS = 50  # shown in the error; the rest are counted
META_COLUMNS = ("valid_from", "valid_until", "ref")
_RUN = 1 << 16  # hashes sorted at a time when looking for repeated identities
CHECK_CHUNK = 1000  # rows handed to ``check`` at a time

# (field, zh-CN, English) for each problem of one row
Problems = list[tuple[str, str, str]]
Validator = Callable[[IssueRequest], Problems]


class Problem(NamedTuple):
    """One problem of a register: its line, the field, zh-CN and English."""

    line: int
    field: str
    zh: str
    en: str

    @property
    def text(self) -> str:
        line, field = self.line, self.field
        return f"line {line}: {field}: {self.en} · 第 {line} 行 {field}：{self.zh}"


# What ``check`` is given (line, request) and answers for a chunk of rows.
Checker = Callable[[list[tuple[int, IssueRequest]]], list[Problem]]


class RegisterError(DataError):
    """The register cannot be issued: its problems, each naming its line, zh-CN and English."""

    def __init__(self, path: Path, problems: list[Problem], more: int = 0) -> None:
        self.problems = sorted(problems)
        self.more = more
        shown = "; ".join(p.text for p in self.problems)
        if more:
            shown += f"; and {more} more · 另有 {more} 处"
        super().__init__(f"{path.name}: {shown}")


def problem(line: int, field: str, zh: str, en: str) -> Problem:
    return Problem(line, field, zh, en)


def _refuse(path: Path, line: int, field: str, zh: str, en: str) -> RegisterError:
    return RegisterError(path, [problem(line, field, zh, en)])


def check_batch_id(batch_id: str) -> None:
    """The batch id leaves room for the default ref in ``batch_ref``."""
    most = MAX_REF - 1 - DEFAULT_REF
    if not batch_id or len(batch_id) > most:
        raise DataError(
            f"批次标识须为 1–{most} 个字符，实际为 {len(batch_id)} 个；"
            "请用 --batch-id 指定较短的 · "
            f"--batch-id (default: the file name) must be 1 to {most} characters, "
            f"found {len(batch_id)}"
        )


def _lines(handle: BinaryIO, path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of each line: strict UTF-8, bounded, without a leading BOM."""
    most = 4 * MAX_LINE + 2  # bytes: MAX_LINE characters of at most 4 bytes, then CR LF
    n = 0
    while raw := handle.readline(most + 1):
        n += 1
        if len(raw) > most:
            raise _too_long(path, n)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            byte, at = raw[exc.start], exc.start + 1
            raise _refuse(
                path, n, "encoding",
                f"应为 UTF-8 文本，实际第 {at} 字节为 0x{byte:02x}（请另存为 UTF-8）",
                f"expected UTF-8 text, found byte 0x{byte:02x} at byte {at} (save it as UTF-8)",
            ) from None  # fmt: skip
        if n == 1:
            text = text.removeprefix("\ufeff")  # the byte-order mark a spreadsheet writes
        if len(text.rstrip("\r\n")) > MAX_LINE:
            raise _too_long(path, n)
        yield n, text


def _too_long(path: Path, line: int) -> RegisterError:
    return _refuse(
        path, line, "length", f"一行最多 {MAX_LINE} 个字符，实际更多",
        f"expected at most {MAX_LINE} characters a line, found more",
    )  # fmt: skip


def rows(path: Path, fmt: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, record) from CSV with a header row, or JSON lines."""
    with path.open("rb") as handle:
        lines = _lines(handle, path)
        if fmt == "csv":
            yield from _csv_rows(lines, path)
            return
        for n, line in lines:
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as exc:
                raise _refuse(
                    path, n, "json", f"应为 JSON 对象，实际不是 JSON：{exc}",
                    f"expected a JSON object, found text that is not JSON: {exc}",
                ) from None  # fmt: skip
            if not isinstance(record, dict):
                raise _refuse(
                    path, n, "json", f"每行应为一个 JSON 对象，实际为 {type(record).__name__}",
                    f"expected a JSON object per line, found {type(record).__name__}",
                )  # fmt: skip
            yield n, record


def _csv_rows(lines: Iterator[tuple[int, str]], path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    last = 0  # the line read last: a record's last line, or where the csv module gave up

    def texts() -> Iterator[str]:
        nonlocal last
        for n, text in lines:
            last = n
            yield text

    reader = csv.DictReader(texts())
    try:
        if not reader.fieldnames:
            raise _refuse(
                path, 1, "header", "应有表头行（主体字段名），实际没有",
                "expected a header row naming the subject fields, found none",
            )  # fmt: skip
        for record in reader:
            if None in record:
                raise _refuse(
                    path, last, "columns", "值的个数多于表头列数",
                    "expected at most one value a header column, found more",
                )  # fmt: skip
            yield last, {k: v for k, v in record.items() if v not in ("", None)}
    except csv.Error as exc:
        raise _refuse(
            path, last, "csv", f"CSV 格式错误：{exc}", f"expected well-formed CSV, found: {exc}"
        ) from None


def row_request(type_: str, batch_id: str, line: int, record: dict[str, Any]) -> IssueRequest:
    """The issue request of one row; :class:`DataError` when its ``ref`` is unusable."""
    record = dict(record)
    meta = {k: record.pop(k, None) for k in META_COLUMNS}
    subject = record.pop("subject", record)
    subject_text = canonical_text(subject)  # hashed for the identity and the fingerprint
    ref = meta["ref"]
    given = ref not in (None, "")
    content_key = None if given else row_key(type_, subject, None, subject_text=subject_text)
    if content_key is not None:
        # the default ref: the start of the same hash of the type and subject ("c:" + hex)
        ref = content_key[2 : 2 + DEFAULT_REF]
    elif isinstance(ref, int) and not isinstance(ref, bool):
        ref = str(ref)
    if not isinstance(ref, str) or len(batch_id) + 1 + len(ref) > MAX_REF:
        most = MAX_REF - 1 - len(batch_id)
        shown = repr(ref) if len(repr(ref)) <= 60 else f"{repr(ref)[:57]}..."
        raise RowError(
            line, "ref", f"ref 应为不超过 {most} 个字符的文本，实际为 {shown}",
            f"expected ref to be text of at most {most} characters, found {shown}",
        )  # fmt: skip
    return IssueRequest(
        type=type_,
        subject=subject,
        valid_from=meta["valid_from"],
        valid_until=meta["valid_until"],
        batch_ref=f"{batch_id}:{ref}",
        row_key=content_key or row_key(type_, subject, ref),
        subject_text=subject_text,
    )


class RowError(DataError):
    """One row's problem found while building its request."""

    def __init__(self, line: int, field: str, zh: str, en: str) -> None:
        self.problem = problem(line, field, zh, en)
        super().__init__(self.problem.text)


def _hash8(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def _content(request: IssueRequest) -> int:
    return _hash8(f"{request.batch_ref}\n{request.fingerprint()}")


@dataclass(frozen=True)
class Scan:
    """What pass 1 learned: how many rows, and each row's content hash, in file order."""

    path: Path
    fmt: str
    type: str
    batch_id: str
    rows: int
    contents: array[int]


class _Problems:
    def __init__(self) -> None:
        self.shown: list[Problem] = []
        self.more = 0

    def add(self, found: Problem) -> None:
        if len(self.shown) < MAX_PROBLEMS:
            self.shown.append(found)
        else:
            self.more += 1


def scan(
    path: Path,
    fmt: str,
    type_: str,
    batch_id: str,
    validate: Validator,
    check: Checker | None = None,
) -> Scan:
    """Pass 1: read and validate every row (``validate`` one at a time, ``check`` a chunk at a
    time); :class:`RegisterError` naming every problem."""
    problems = _Problems()
    identities: array[int] = array("Q")
    contents: array[int] = array("Q")
    pending: list[tuple[int, IssueRequest]] = []

    def checked() -> None:
        if check is not None and pending:
            for found in check(pending):
                problems.add(found)
        pending.clear()

    for count, (n, record) in enumerate(rows(path, fmt)):
        if count >= MAX_ROWS:
            raise _refuse(
                path, n, "rows", f"每个文件最多 {MAX_ROWS} 行，实际更多：请拆分文件",
                f"expected at most {MAX_ROWS} rows, found more: split the file",
            )  # fmt: skip
        try:
            request = row_request(type_, batch_id, n, record)
        except RowError as exc:
            problems.add(exc.problem)
            contents.append(0)
            continue
        for field, zh, en in validate(request):
            problems.add(problem(n, field, zh, en))
        identities.append(_hash8(request.batch_ref or ""))
        contents.append(_content(request))
        pending.append((n, request))
        if len(pending) == CHECK_CHUNK:
            checked()
    checked()
    repeated = _repeated(identities)
    del identities
    if repeated:
        for found in _same_rows(path, fmt, type_, batch_id, repeated):
            problems.add(found)
    if problems.shown:
        raise RegisterError(path, problems.shown, problems.more)
    return Scan(path, fmt, type_, batch_id, len(contents), contents)


def _repeated(hashes: array[int]) -> set[int]:
    """The values found more than once: sorted runs merged, 8 bytes a row and a bounded rest."""
    runs = [array("Q", sorted(hashes[i : i + _RUN])) for i in range(0, len(hashes), _RUN)]
    repeated: set[int] = set()
    previous = None
    for value in heapq.merge(*runs):
        if value == previous:
            repeated.add(value)
        previous = value
    return repeated


def _same_rows(
    path: Path, fmt: str, type_: str, batch_id: str, repeated: set[int]
) -> Iterator[Problem]:
    """Read the file again for the rows whose identity hash repeats; name each later line with
    the first line of its identity (a hash collision between two identities names nothing)."""
    first: dict[str, int] = {}
    for n, record in rows(path, fmt):
        try:
            request = row_request(type_, batch_id, n, record)
        except RowError:
            continue
        ref = request.batch_ref or ""
        if _hash8(ref) not in repeated:
            continue
        seen = first.setdefault(ref, n)
        if seen == n:
            continue
        explicit = record.get("ref") not in (None, "")
        yield problem(
            n, "ref" if explicit else "row",
            f"与第 {seen} 行是同一证照（{'ref 相同' if explicit else '类型和主体相同'}）；"
            "每张证照只能列一次：删除其一，或为每行填写不同的 ref",
            f"expected each certificate once, found the certificate of line {seen} again "
            f"(the same {'ref' if explicit else 'type and subject'}): remove one of them, "
            "or give each row its own ref",
        )  # fmt: skip


def chunks(scanned: Scan, size: int) -> Iterator[list[IssueRequest]]:
    """Pass 2: the validated requests, ``size`` at a time (see :func:`numbered_chunks`)."""
    for chunk in numbered_chunks(scanned, size):
        yield [request for _, request in chunk]


def numbered_chunks(scanned: Scan, size: int) -> Iterator[list[tuple[int, IssueRequest]]]:
    """Pass 2: (line, validated request), ``size`` at a time; :class:`RegisterError` before any
    row that is not what pass 1 validated (the file changed: what was yielded before stays
    valid)."""
    chunk: list[tuple[int, IssueRequest]] = []
    count = last = 0
    for n, record in rows(scanned.path, scanned.fmt):
        last = n
        try:
            request = row_request(scanned.type, scanned.batch_id, n, record)
        except RowError:
            request = None
        if request is None or count >= scanned.rows or _content(request) != scanned.contents[count]:
            raise _changed(scanned.path, n)
        chunk.append((n, request))
        count += 1
        if len(chunk) == size:
            yield chunk
            chunk = []
    if count != scanned.rows:
        raise _changed(scanned.path, last + 1)
    if chunk:
        yield chunk


def _changed(path: Path, line: int) -> RegisterError:
    return _refuse(
        path, line, "file",
        "文件应与校验时相同，实际此处已被修改；之前的各批已签发，请重新运行以续签",
        "expected the file as it was validated, found it changed here; the chunks before "
        "this row were issued: re-run to resume",
    )  # fmt: skip
