"""Every USCC (GB 32100), citizen ID number (GB 11643) and GB/T 36904 证照标识 the gateway
emits, for each shipped type, checked with python-stdnum (``stdnum.cn.uscc``,
``stdnum.cn.ric``, ``stdnum.iso7064.mod_37_36``): in the issue answer, the record, the QR
token and the verify answer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from stdnum.cn import ric, uscc
from stdnum.iso7064 import mod_37_36

from gateway.core import Gateway
from tests.gateway.helpers import client_for
from tests.interop.issued import Issued, agency_for_every_type, issue_every_type

ROOT = "1.2.156.3005.2."  # GB/T 36904: the arcs every 证照标识 starts with
USCC_NAMES = {"uscc", "issuing_authority_code"}
ID_NUMBER_NAMES = {"id_number"}
HOLDER_CODE_TYPES = {"001": "uscc", "111": "id_number"}  # GB/T 36903 持证主体代码类型


@pytest.fixture
def issued(gw: Gateway) -> Iterator[list[Issued]]:
    agency = agency_for_every_type(gw)
    with client_for(gw) as client:
        yield issue_every_type(client, agency)


def _codes(document: Any) -> Iterator[tuple[str, str]]:
    """``(kind, value)`` for every USCC and ID number in a JSON document: members named for
    them, ``{"name", "value"}`` field entries, and a holder code by its holder code type."""
    if isinstance(document, list):
        for item in document:
            yield from _codes(item)
        return
    if not isinstance(document, dict):
        return
    named = document.get("name")
    if named in USCC_NAMES | ID_NUMBER_NAMES and isinstance(document.get("value"), str):
        yield ("uscc" if named in USCC_NAMES else "id_number"), document["value"]
    kind = HOLDER_CODE_TYPES.get(str(document.get("holder_code_type")))
    for key, value in document.items():
        if isinstance(value, str) and key in USCC_NAMES:
            yield "uscc", value
        elif isinstance(value, str) and key in ID_NUMBER_NAMES:
            yield "id_number", value
        elif isinstance(value, str) and key == "holder_code" and kind is not None:
            yield kind, value
        else:
            yield from _codes(value)


def _identifiers(one: Issued) -> set[str]:
    found = {
        one.answer["identifier"],
        one.detail["identifier"],
        one.detail["metadata"]["licence_identifier"],
        one.verified["credential"]["identifier"],
    }
    assert len(found) == 1, found  # one identifier, however it is reached
    return found


def test_every_licence_identifier_carries_a_valid_mod_37_36_check_character(
    issued: list[Issued],
) -> None:
    for one in issued:
        for identifier in _identifiers(one):
            assert identifier.startswith(ROOT), identifier
            type_code, issuer, serial, version, check = identifier.removeprefix(ROOT).split(".")
            assert type_code == one.detail["metadata"]["licence_type_code"]
            assert len(version) == 3, identifier
            assert version.isdigit(), identifier
            # GB/T 36904 校验位: MOD 37,36 over the four middle segments, without dots
            assert mod_37_36.is_valid(type_code + issuer + serial + version + check), identifier
            # the type code opens with the defining authority's USCC, the issuer code is one
            assert uscc.is_valid(type_code[:18]), identifier
            assert uscc.is_valid(issuer) or (len(issuer) == 6 and issuer.isdigit()), identifier


def test_every_uscc_and_id_number_emitted_validates(issued: list[Issued]) -> None:
    kinds = set()
    for one in issued:
        found: set[tuple[str, str]] = set()
        for document in (one.answer, one.detail, one.verified, one.claims):
            found.update(_codes(document))
        metadata = one.detail["metadata"]
        holder = (HOLDER_CODE_TYPES[metadata["holder_code_type"]], metadata["holder_code"])
        # the walk found the issuer's code and the holder's (a company's USCC or an ID number)
        assert {("uscc", metadata["issuing_authority_code"]), holder} <= found, one.type
        for kind, value in sorted(found):
            check = uscc if kind == "uscc" else ric
            assert check.is_valid(value), f"{one.type}: {kind} {value!r} fails stdnum"
        kinds |= {kind for kind, _ in found}
    assert kinds == {"uscc", "id_number"}
