"""API error messages: ``message`` in Chinese first, ``message_en`` in English (issue 12: "API
messages mix languages").

Two walks hold the rule. One raises every error class of the project that is built from one
message through the app's error handlers, with a typical English message and with a
two-language one, and reads the answer. The other reads the gateway's source: every message
raised there in two languages is ``"中文 · English"``, and every error built from a Chinese and
an English message (field errors, ``Unprocessable``, refusals) gets them in that order.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import gateway
import issuers
import trust
import verify
from gateway import http_errors
from gateway.app import _install_errors
from gateway.error_texts import has_chinese
from gateway.settings import SettingsError
from trust.errors import EcertError, FetchError

# Checked when settings are built, at start: a request never raises it.
NEVER_IN_A_REQUEST = {SettingsError}
ENGLISH = "expected a credential issued here, found none with id c-1"
BOTH = "没有这张证照 · expected a credential issued here, found none with id c-1"


def _error_classes() -> list[type[EcertError]]:
    for package in (trust, verify, issuers, gateway):
        for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if ".migrations" not in module.name:
                importlib.import_module(module.name)

    def below(cls: type[EcertError]) -> Iterator[type[EcertError]]:
        for sub in cls.__subclasses__():
            yield sub
            yield from below(sub)

    ours = ("trust.", "verify.", "issuers.", "gateway.")
    return sorted(
        {c for c in below(EcertError) if c.__module__.startswith(ours)} - NEVER_IN_A_REQUEST,
        key=lambda c: f"{c.__module__}.{c.__qualname__}",
    )


def _one_message(cls: type[EcertError]) -> bool:
    """Whether ``cls`` is built from one message (its own ``__init__`` is Exception's)."""
    return all(
        vars(k).get("__init__") is None for k in cls.__mro__[: cls.__mro__.index(EcertError) + 1]
    )


ONE_MESSAGE = [c for c in _error_classes() if _one_message(c)]


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    app = FastAPI()
    _install_errors(app)
    http_errors.install(app)
    raised: dict[str, EcertError] = {}

    @app.get("/raise/{key}")
    def raise_it(key: str) -> None:
        raise raised[key]

    app.state.raised = raised
    with TestClient(app, raise_server_exceptions=False) as made:
        yield made


def test_the_walk_finds_the_gateways_errors() -> None:
    names = {c.__name__ for c in ONE_MESSAGE}
    assert {"NotFound", "Conflict", "Forbidden", "Unauthorised", "AuditLogDamaged",
            "SignatureError", "FetchError"} <= names  # fmt: skip


@pytest.mark.parametrize("cls", ONE_MESSAGE, ids=lambda c: f"{c.__module__}.{c.__name__}")
@pytest.mark.parametrize("text", [ENGLISH, BOTH], ids=["english", "two-languages"])
def test_every_error_answers_chinese_first_and_english_beside(
    client: TestClient, cls: type[EcertError], text: str
) -> None:
    key = f"{cls.__module__}.{cls.__name__}.{len(text)}"
    client.app.state.raised[key] = cls(text)  # type: ignore[attr-defined]
    answer = client.get(f"/raise/{key}")
    assert answer.status_code < 500 or (issubclass(cls, FetchError) and answer.status_code == 503)
    detail = answer.json()["detail"]
    assert has_chinese(detail["message"][:8]), detail  # zh-CN first
    assert not has_chinese(detail["message_en"]), detail
    assert "expected a credential issued here" in detail["message_en"], detail
    if text == BOTH:
        assert detail["message"] == "没有这张证照", detail
        assert detail["message_en"] == ENGLISH, detail
    assert detail["message"] != f"出错：{text}", "a kind with no Chinese name"


# --- the source ------------------------------------------------------------------------------

SOURCE = Path(gateway.__file__).parent
# Errors built from (…, zh, en) at these argument positions.
PAIRS = {"FieldError.single": (2, 3), "Unprocessable": (0, 1), "TooManyRequests": (0, 1),
         "NotAcceptable": (0, 1), "_refuse": (0, 1), "RequestRefused": (0, 1),
         "ResponseRefused": (1, 2), "DelegationRefused": (1, 2),
         "_csv_refused": (1, 2)}  # fmt: skip


def _text(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{…}" for v in node.values)
    return None


def _raised() -> Iterator[tuple[str, str, list[str | None]]]:
    for path in sorted(SOURCE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                where = f"{path.relative_to(SOURCE.parent)}:{node.lineno}"
                yield where, ast.unparse(node.exc.func), [_text(a) for a in node.exc.args]


def test_the_gateways_source_raises_chinese_first_and_english_beside() -> None:
    wrong = []
    checked = 0
    for where, name, texts in _raised():
        if name in PAIRS:
            zh_at, en_at = PAIRS[name]
            if len(texts) <= en_at:
                continue
            zh, en = texts[zh_at], texts[en_at]
            judged = zh is not None and any(ch.isalpha() for ch in zh.replace("{…}", ""))
            if zh is not None and judged and not has_chinese(zh):  # not all interpolated
                wrong.append(f"{where}: {name}'s Chinese message has no Chinese: {zh!r}")
            if en is not None and has_chinese(en.replace("{…}", "")):
                wrong.append(f"{where}: {name}'s English message has Chinese: {en!r}")
            checked += 1
        elif len(texts) == 1 and texts[0] is not None and has_chinese(texts[0]):
            zh, sep, en = texts[0].partition(" · ")
            if not sep or not has_chinese(zh) or has_chinese(en):
                wrong.append(f"{where}: {name}({texts[0][:60]!r}…): expected '中文 · English'")
            checked += 1
    assert checked > 50
    assert wrong == []


def test_the_walk_builds_what_it_raises() -> None:
    # A class the walk could not build from one message is covered by the source walk above.
    assert all(inspect.isclass(c) for c in ONE_MESSAGE)
    assert len(ONE_MESSAGE) > 40
