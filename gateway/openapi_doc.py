"""The OpenAPI document says exactly what is served: error shapes, statuses, authentication.

FastAPI documents each route's success and a 422 in its own validation shape (an array), which
the gateway never serves. This module rewrites the generated document once, when it is first
asked for:

- the three error shapes as component schemas: ``Problem`` (the house shape,
  ``{"detail": {"code", "message" zh-CN, "message_en", "errors"?}}``), ``FederationError``
  (OpenID Federation 1.0 §8.9, the federation router) and ``OAuthError`` (RFC 6749 §5.2, the
  wallet-facing OpenID4VCI/VP endpoints, which answer ``Problem`` for what the framework
  refuses);
- every status an operation can answer, by what the route depends on and how it is reached:
  a body (400 unparseable, 413 over the bound, 422 invalid), parameters (422, 400 at a
  federation endpoint), an API key or a counter key (401, 403), a path id (404), a peer
  fetched (503), and 429 with ``Retry-After`` everywhere (rate limits, ``gateway.app``);
- the agency's and the counter's API keys as bearer security schemes, in place of a free
  ``Authorization`` header parameter.

Deliberately not here: what the routes return on success (their ``response_model`` and
``responses``), and the error answers themselves (:mod:`gateway.app`, :mod:`gateway.http_errors`,
:mod:`gateway.routes.federation_errors`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from gateway.deps import get_counter, get_fetcher, get_principal
from gateway.routes.federation_errors import FederationRoute

_TEXT = {"type": "string"}
FIELD_PROBLEM = {
    "type": "object",
    "required": ["field", "code", "message", "message_en"],
    "properties": {
        "field": _TEXT,
        "code": _TEXT,
        "message": {**_TEXT, "description": "zh-CN"},
        "message_en": _TEXT,
    },
}
PROBLEM = {
    "type": "object",
    "description": "The house error shape 错误格式: zh-CN `message`, English `message_en`, "
    "and for field errors each field's problem.",
    "required": ["detail"],
    "properties": {
        "detail": {
            "type": "object",
            "required": ["code", "message", "message_en"],
            "properties": {
                "code": _TEXT,
                "message": {**_TEXT, "description": "zh-CN"},
                "message_en": _TEXT,
                "errors": {"type": "array", "items": {"$ref": "#/components/schemas/FieldProblem"}},
            },
        }
    },
}
FEDERATION_ERROR = {
    "type": "object",
    "description": "OpenID Federation 1.0 §8.9; `error_description` is zh-CN, then English.",
    "required": ["error", "error_description"],
    "properties": {"error": _TEXT, "error_description": _TEXT},
}
OAUTH_ERROR = {
    "type": "object",
    "description": "RFC 6749 §5.2 / OpenID4VCI §8.3.1.2 / OpenID4VP §8.2, with zh-CN `message` "
    "and English `message_en` beside.",
    "required": ["error"],
    "properties": {
        "error": _TEXT,
        "error_description": _TEXT,
        "message": {**_TEXT, "description": "zh-CN"},
        "message_en": _TEXT,
    },
}
SCHEMAS = {
    "FieldProblem": FIELD_PROBLEM,
    "Problem": PROBLEM,
    "FederationError": FEDERATION_ERROR,
    "OAuthError": OAUTH_ERROR,
}
SECURITY = {
    "agencyKey": {
        "type": "http",
        "scheme": "bearer",
        "description": "an issuing agency's API key (`ecert agency add` prints it) 签发机构密钥",
    },
    "counterKey": {
        "type": "http",
        "scheme": "bearer",
        "description": "a counter's `vk_` key (`ecert verifier add` prints it) 核验点密钥",
    },
}
RETRY_AFTER = {
    "Retry-After": {
        "description": "seconds to wait (RFC 6585 §4) 重试等待秒数",
        "schema": {"type": "integer", "minimum": 0},
        "required": True,
    }
}
REASONS = {
    400: "unparseable or refused input 请求无效",
    401: "no valid key or proof 身份验证失败",
    403: "not allowed 无权执行此操作",
    404: "no such record 未找到",
    406: "no served media type is acceptable 无可接受的格式",
    409: "contradicts the current state 与当前状态冲突",
    413: "request body over the bound 请求内容过大",
    422: "a field is invalid 字段无效",
    429: "too many requests 请求过于频繁",
    503: "a peer could not be reached 暂时无法获取数据",
}
_ref = "#/components/schemas/"
# The wallet-facing OAuth endpoints answer OAuthError for what they refuse, Problem for what
# the framework refuses before them (413, 422).
_OAUTH_PATHS = ("/oid4vci/", "/.well-known/openid-credential-issuer", "/vct/", "/oid4vp/")
_OAUTH_OPERATIONS = {("post", "/api/v1/credentials/{credential_id}/wallet-offer")}


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _calls(sub)


def _error_schema(route: APIRoute, path: str, method: str) -> dict[str, Any]:
    if isinstance(route, FederationRoute):
        return {"$ref": _ref + "FederationError"}
    if path.startswith(_OAUTH_PATHS) or (method, path) in _OAUTH_OPERATIONS:
        return {"anyOf": [{"$ref": _ref + "OAuthError"}, {"$ref": _ref + "Problem"}]}
    return {"$ref": _ref + "Problem"}


def _statuses(route: APIRoute, operation: dict[str, Any], calls: set[Any]) -> set[int]:
    federation = isinstance(route, FederationRoute)
    params = {p["in"] for p in operation.get("parameters", [])}
    has_body = "requestBody" in operation or bool((route.methods or set()) & {"POST", "PUT"})
    statuses = {429}
    if has_body:
        statuses |= {400, 404, 409, 413, 422}
    if params:
        statuses.add(400 if federation else 422)
    if "path" in params:
        statuses.add(404)
    if get_principal in calls or get_counter in calls or has_body:
        statuses |= {401, 403}  # a key, or a holder's or peer's proof, refused
    if get_fetcher in calls:
        statuses.add(503)
    if federation:
        statuses |= {400, 404, 406}
        statuses.discard(422)  # §8.9: a bad parameter is invalid_request, 400
    return statuses


def refine(doc: dict[str, Any], routes: list[Any]) -> None:
    """Rewrite ``doc`` (FastAPI's generated OpenAPI) in place; see the module docstring."""
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.update(SCHEMAS)
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    components.setdefault("securitySchemes", {}).update(SECURITY)
    for context in iter_route_contexts(routes):  # an included router's routes, with prefixes
        route = context.original_route
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        calls = set(_calls(route.dependant))
        for method in sorted(route.methods or ()):
            operation = doc["paths"].get(context.path_format or "", {}).get(method.lower())
            if operation is None:
                continue
            key = "agencyKey" if get_principal in calls else "counterKey"
            if get_principal in calls or get_counter in calls:
                operation["parameters"] = [
                    p
                    for p in operation.get("parameters", [])
                    if not (p["in"] == "header" and p["name"].lower() == "authorization")
                ]
                if not operation["parameters"]:
                    del operation["parameters"]
                operation["security"] = [{key: []}]
            error = _error_schema(route, context.path_format or "", method.lower())
            responses = operation.setdefault("responses", {})
            statuses = _statuses(route, operation, calls)
            if 422 not in statuses:  # FastAPI's, for a header now a security scheme (issue 12:
                responses.pop("422", None)  # its dangling HTTPValidationError broke /redoc)
            for status in sorted(statuses):
                schema = error if status not in (413, 422) else {"$ref": _ref + "Problem"}
                if status == 413 and isinstance(route, FederationRoute):
                    # a declared length is refused before any route runs (Problem); a body
                    # found too long while read, by the route (FederationError)
                    schema = {"anyOf": [error, {"$ref": _ref + "Problem"}]}
                answer: dict[str, Any] = {
                    "description": REASONS[status],
                    "content": {"application/json": {"schema": schema}},
                }
                if status == 429:
                    answer["headers"] = RETRY_AFTER
                responses[str(status)] = answer
            if isinstance(route, FederationRoute):
                responses.pop("422", None)  # §8.9: FederationRoute answers invalid_request, 400
            if "406" in responses:
                responses["406"] = {
                    "description": REASONS[406],
                    "content": {"application/json": {"schema": error}},
                }


def install(app: FastAPI) -> None:
    """Serve the refined document at ``/openapi.json`` (and on ``/docs``)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = generate()
            refine(doc, app.routes)
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
