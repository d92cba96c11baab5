"""``GET /api/v1/types`` and ``/api/v1/types/{code}``: the credential types, their fields with
zh/en labels, which are required and the validity rules (:mod:`gateway.type_views`). Public: a
type file holds no secret, and the wallet metadata already names the types."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from gateway import type_views
from gateway.deps import GatewayDep
from gateway.errors import NotFound
from gateway.schemas import TypeCode
from gateway.search_schemas import CredentialTypeOut, TypeCatalogue

router = APIRouter(prefix="/api/v1/types", tags=["types 证照类型"])
CACHE = "public, max-age=300"  # types change only when the gateway restarts with new files


@router.get("", response_model=TypeCatalogue, summary="Credential types and their fields 证照类型")
def list_types(gw: GatewayDep, response: Response) -> dict[str, Any]:
    response.headers["Cache-Control"] = CACHE
    return {"types": type_views.catalogue(gw.types)}


@router.get("/{code}", response_model=CredentialTypeOut, summary="One credential type 单个证照类型")
def one_type(code: TypeCode, gw: GatewayDep, response: Response) -> dict[str, Any]:
    if code not in gw.types:
        known = ", ".join(sorted(t.code for t in gw.types))
        raise NotFound(f"expected one of {known}, found no type {code!r}")
    response.headers["Cache-Control"] = CACHE
    return type_views.describe(gw.types.get(code))
