"""Small helpers for API tests."""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from gateway.app import create_app
from gateway.core import Gateway
from gateway.models import CredentialRow, StatusListRow
from tests.issuers.samples import SAMPLE_SUBJECTS
from trust import statuslist


@contextmanager
def client_for(gw: Gateway) -> Iterator[TestClient]:
    with TestClient(create_app(gw), base_url="http://127.0.0.1") as client:
        yield client


def auth(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"}


WALLET_ORIGIN = {"Origin": "https://wallet.example"}


def assert_json_post_preflighted(client: TestClient, path: str) -> None:
    """``OPTIONS`` on ``path`` lets a page of any origin POST JSON to it (CORS preflight)."""
    asked = client.options(
        path,
        headers={**WALLET_ORIGIN, "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "content-type"},
    )  # fmt: skip
    assert asked.status_code == 204, (path, asked.text)
    assert asked.headers["access-control-allow-origin"] == "*"
    assert "POST" in asked.headers["access-control-allow-methods"]
    assert "content-type" in asked.headers["access-control-allow-headers"].lower()


def licence_body(**subject: Any) -> dict[str, Any]:
    return {
        "type": "business-licence",
        "subject": {**SAMPLE_SUBJECTS["business-licence"], **subject},
    }


def count_credentials(gw: Gateway) -> int:
    with gw.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(CredentialRow)) or 0)


def fill_status_list(gw: Gateway, list_id: int, *, seed: int = 7) -> None:
    """Give a status list a busy mix: one entry in ten revoked or suspended."""
    rng = random.Random(seed)
    with gw.transaction() as session:
        row = session.get(StatusListRow, list_id)
        assert row is not None
        packed = statuslist.StatusList(bits=row.bits, size=row.size)
        for idx in range(row.size):
            if rng.random() < 0.1:
                packed.set(idx, rng.choice((statuslist.INVALID, statuslist.SUSPENDED)))
        row.data = packed.data


def race_past(
    monkeypatch: pytest.MonkeyPatch, module: object, name: str, action: Callable[[], None]
) -> None:
    """Run ``action`` in two threads that both finish ``module.name`` (the step between a
    check and the write) before either goes on: both pass the check, the write must decide."""
    both_done = threading.Barrier(2, timeout=20)
    real = getattr(module, name)

    def in_step(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        both_done.wait()
        return result

    monkeypatch.setattr(module, name, in_step)
    threads = [threading.Thread(target=action) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)


T = TypeVar("T")


def on_own_loop(make: Callable[[], Coroutine[Any, Any, T]], timeout: float = 30.0) -> T:
    """``make()`` run to its end on an event loop of its own, in a thread of its own: the
    suite's main thread may hold a running loop left by an earlier test's library
    (Playwright's sync API keeps one), and ``asyncio.run`` refuses to start beside it (a full
    run failed 11 tests so). Bounded by ``timeout`` seconds."""
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(lambda: asyncio.run(asyncio.wait_for(make(), timeout)))
        return future.result(timeout + 5.0)
