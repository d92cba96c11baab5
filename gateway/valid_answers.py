"""VALID verify answers as bytes, from templates (issue 13): what ``orjson.dumps`` makes of
``verification_json`` + the HTTP extras (``answered_by``, ``status_detail``), byte for byte,
for less work than building the answer's dictionaries and serialising them (~1.3-2 µs of an
answer measured in process).

A template is that answer serialised once per issuer, credential type and answering city, with
a random marker in each place that changes from one certificate or moment to the next, then cut
at the markers; an answer is the pieces with its own values between them. Templates are held by
the identity of the objects they were made from, so new trust data or a renamed city gets new
ones.

Deliberately not here: any answer but VALID (built as dictionaries by
:func:`gateway.fast_verify.answers`), deciding anything (:mod:`verify.verifier`), the answer's
shape (:func:`verify.result_json.verification_json` decides it; the templates are cut from it).
"""

from __future__ import annotations

import functools
import secrets
from typing import Any, NamedTuple, cast

import orjson

from gateway.schemas import verification_json
from trust.snapshot import IssuerRecord, TypeInfo
from verify.reasons import Reason
from verify.result import CredentialView, VerificationResult
from verify.result_json import iso
from verify.verifier import VALID_DETAIL

_VALID = Reason.VALID


# The parts of a VALID answer that change from one certificate or moment to the next, in the
# order ``verification_json`` writes them; everything between them depends only on the issuer,
# the type and the answering city (``answered_by``), and is held as bytes.
_SLOTS = 10
_NULL = b"null"
_HELD_TEMPLATES = 1024  # templates kept (issuer × type × city identity); a city has far fewer
_HELD_LABELS = 256  # field names a template keeps the rendering of


@functools.lru_cache(maxsize=4096)
def _iso_json(ts: int) -> bytes:
    """``iso(ts)`` as JSON; cached like ``iso``: an answer's times repeat (issue 13)."""
    return orjson.dumps(iso(ts))


class _Template(NamedTuple):
    """One issuer's VALID answers of one type, as answered by one city: the constant pieces
    around the :data:`_SLOTS` changing values, and each field name's rendering up to its
    value (``{"name":…,"label":…,"value":``)."""

    issuer: IssuerRecord
    info: TypeInfo
    who: dict[str, str]
    pieces: tuple[bytes, ...]  # empty: no template (the answer is built as a dictionary)
    fields: dict[str, bytes]
    # The last answer's tail (see ValidAnswers.render): (its times, its bytes), in one slot.
    tail: list[tuple[tuple[int | None, ...], bytes]]


def _probe(info: TypeInfo, issuer: IssuerRecord, values: dict[str, Any]) -> dict[str, Any]:
    """``verification_json`` of a VALID answer of ``info`` from ``issuer`` with ``values``."""
    view = CredentialView(info, None, values, 0, 0, None)
    return verification_json(VerificationResult(_VALID, VALID_DETAIL, 0, view, issuer, 0, 0))


def _template(issuer: IssuerRecord, info: TypeInfo, who: dict[str, str]) -> _Template:
    """The template of ``verification_json`` + the extras of a VALID answer: that answer
    serialised once with a random marker in each changing place, then cut at the markers. No
    pieces when a marker is not found exactly once (a name in the trust data holding one: the
    answer is then built as a dictionary, as ever)."""
    marks = [f"\x00{secrets.token_hex(8)}\x00" for _ in range(_SLOTS)]
    answer = _probe(info, issuer, {})
    credential = answer["credential"] = dict(answer["credential"])  # a fresh dict: ours
    freshness = answer["freshness"] = dict(answer["freshness"])
    at = iter(marks)
    for name in ("identifier", "fields", "issued_at", "valid_from", "valid_until"):
        credential[name] = next(at)
    answer["checked_at"] = next(at)
    for name in ("trust", "status", "status_age_seconds", "status_max_age_seconds"):
        freshness[name] = next(at)
    answer["answered_by"] = who
    answer["status_detail"] = None
    rest = orjson.dumps(answer)
    pieces = []
    for mark in marks:
        cut = orjson.dumps(mark)
        if rest.count(cut) != 1:
            return _Template(issuer, info, who, (), {}, [((), b"")])
        piece, _, rest = rest.partition(cut)
        pieces.append(piece)
    pieces.append(rest)
    return _Template(issuer, info, who, tuple(pieces), {}, [((), b"")])


_NO_TEMPLATE = _Template(cast(IssuerRecord, None), cast(TypeInfo, None), {}, (), {}, [((), b"")])


def _field_head(template: _Template, name: str) -> bytes:
    """``{"name":…,"label":…,"value":`` of field ``name`` as ``verification_json`` writes it."""
    head = template.fields.get(name)
    if head is None:
        field = _probe(template.info, template.issuer, {name: None})["credential"]["fields"][0]
        head = orjson.dumps(field)[: -len(b"null}")]
        if len(template.fields) < _HELD_LABELS:
            template.fields[name] = head
    return head


def _fields_json(template: _Template, values: Any) -> bytes:
    """The ``fields`` of an answer: each field's held head, its value, ``}``."""
    heads = template.fields
    parts = []
    for name, value in values.items():
        head = heads.get(name)
        if head is None:
            head = _field_head(template, name)
        parts.append(head + orjson.dumps(value) + b"}")
    return b"[" + b",".join(parts) + b"]"


def _tail(
    p: tuple[bytes, ...], checked_at: int, trust: int | None, status_as_of: int,
    max_age: int | None,
) -> bytes:  # fmt: skip
    """A VALID answer from its ``checked_at`` on (the template's pieces 5 to 10)."""
    return b"".join((
        p[5], _iso_json(checked_at),
        p[6], _NULL if trust is None else _iso_json(trust),
        p[7], _iso_json(status_as_of),
        p[8], b"%d" % max(0, checked_at - status_as_of),
        p[9], _NULL if max_age is None else b"%d" % max_age,
        p[10],
    ))  # fmt: skip


class ValidAnswers:
    """The bytes of VALID answers (``orjson.dumps`` of ``verification_json`` + the extras,
    byte for byte) from templates held per issuer, type and answering city, matched by
    identity: a new trust snapshot or city record is a new object and gets a new template."""

    def __init__(self) -> None:
        self._held: dict[tuple[int, int, int], _Template] = {}
        self._last = _NO_TEMPLATE

    def render(self, result: VerificationResult, who: dict[str, str]) -> bytes | None:
        """The answer to ``result``, or None when no template applies (not VALID, …)."""
        cred = result.credential
        issuer = result.issuer
        status_as_of = result.status_as_of
        if (
            result.reason is not _VALID
            or cred is None
            or issuer is None
            or status_as_of is None
            or result.detail != VALID_DETAIL
        ):
            return None
        info = cred.type_info
        template = self._last  # most answers are of the issuer and type of the one before
        if not (template.issuer is issuer and template.info is info and template.who is who):
            key = (id(issuer), id(info), id(who))
            found = self._held.get(key)
            # Held beside the objects themselves: an id is not reused while its entry is held.
            if found is None or not (
                found.issuer is issuer and found.info is info and found.who is who
            ):
                if len(self._held) >= _HELD_TEMPLATES:
                    self._held.clear()
                found = self._held[key] = _template(issuer, info, who)
            template = self._last = found
        if not template.pieces:
            return None  # no template for these (see _template)
        checked_at = result.checked_at
        until = cred.valid_until
        p = template.pieces
        # From ``checked_at`` on, an answer depends only on when it was made and on the
        # snapshot's times: the same for a whole batch, and for every answer of a second.
        when = (checked_at, result.trust_as_of, status_as_of, result.status_max_age)
        held = template.tail[0]
        if held[0] == when:
            tail = held[1]
        else:
            tail = _tail(p, *when)
            template.tail[0] = (when, tail)  # replaced whole: a reader sees one or the other
        return b"".join((
            p[0], _NULL if cred.identifier is None else orjson.dumps(cred.identifier),
            p[1], _fields_json(template, cred.values),
            p[2], _iso_json(cred.issued_at),
            p[3], _iso_json(cred.valid_from),
            p[4], _NULL if until is None else _iso_json(until),
            tail,
        ))  # fmt: skip
