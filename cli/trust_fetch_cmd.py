"""``ecert trust fetch``: a kiosk takes its trust bundle from a URL (a CDN, a static server).

A city publishes its kiosk bundle with its other public documents (``ecert publish``, at
``/trust/bundle``); a kiosk with a network now and then runs ``ecert trust fetch --url URL
--out FILE`` and keeps verifying offline from ``FILE`` (``ecert verify --offline``). The new
bundle replaces ``FILE`` only when it verifies (:func:`trust.trustlist.bundle.load_bundle`):
from the root pinned with ``--root``, else from the root of the bundle already held, and never
with a trust list older than the one held (TUF §5.3, §5.4.3); else ``FILE`` stays as it was.

Deliberately not here: verifying a scan (``cli.kiosk``), and what the bundle holds
(``gateway.trustexport``).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Annotated

import httpx
import typer

from cli.common import JsonOut, emit_json, say
from cli.trust_cmd import trust_app
from trust.errors import DataError, FetchError

BUNDLE_PATH = "/trust/bundle"
MAX_BUNDLE = 64 * 1024 * 1024  # trust.trustlist.bundle's bound on the file
TIMEOUT = 15.0


def _download(url: str) -> bytes:
    """The body at ``url``, at most :data:`MAX_BUNDLE` bytes; :class:`FetchError` otherwise."""
    try:
        with httpx.Client(timeout=TIMEOUT) as client, client.stream("GET", url) as answer:
            if answer.status_code != 200:
                raise FetchError(
                    f"无法获取信任包 {url}：答复 {answer.status_code} · cannot fetch {url}: "
                    f"expected 200, found {answer.status_code}"
                )
            body = bytearray()
            for chunk in answer.iter_bytes():
                body += chunk
                if len(body) > MAX_BUNDLE:
                    raise FetchError(
                        f"信任包超过 {MAX_BUNDLE} 字节 · expected at most {MAX_BUNDLE} bytes "
                        f"from {url}, found more"
                    )
            return bytes(body)
    except httpx.HTTPError as exc:
        raise FetchError(f"无法连接 {url} · could not reach {url}: {exc}") from exc


def _read(path: Path, what: str) -> bytes:
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_BUNDLE + 1)
    except OSError as exc:
        raise DataError(f"无法读取{what} {path} · cannot read {path}: {exc.strerror}") from exc
    if len(data) > MAX_BUNDLE:
        raise DataError(f"{what}过大 · expected at most {MAX_BUNDLE} bytes in {path}")
    return data


@trust_app.command("fetch")
def fetch(
    url: Annotated[str, typer.Option("--url", help="where the city publishes (ecert publish)")],
    out: Annotated[Path, typer.Option("--out", help="the kiosk's bundle file")],
    root: Annotated[
        Path | None, typer.Option("--root", help="the root pinned on this kiosk (JSON)")
    ] = None,
    as_json: JsonOut = False,
) -> None:
    """Fetch the trust bundle a city published, replacing the kiosk's after checks. 获取信任包"""
    from trust.trustlist.bundle import TrustBundle, load_bundle
    from trust.trustlist.root import SignedRoot, load_initial_root

    if not url.startswith(("http://", "https://")):
        raise DataError(f"网址无效 · expected an http(s) URL, found {url[:200]!r}")
    source = url.rstrip("/") + BUNDLE_PATH
    now = int(time.time())
    held = TrustBundle.from_bytes(_read(out, "信任包")) if out.exists() else None
    pinned = load_initial_root(SignedRoot.from_bytes(_read(root, "根元数据"))) if root else None
    previous = None
    if held is not None:
        try:
            mine = load_bundle(held.to_bytes(), pinned_root=pinned, now=now,
                               trust_on_first_use=pinned is None)  # fmt: skip
            pinned, previous = mine.root, mine.trust_list
        except DataError:  # expired while offline: still no other root than the one held
            pinned = pinned or load_initial_root(held.root)
    data = _download(source)
    try:
        loaded = load_bundle(data, pinned_root=pinned, now=now, previous=previous,
                             trust_on_first_use=pinned is None)  # fmt: skip
    except DataError as exc:
        raise DataError(
            f"信任包未通过校验，保留原有文件 · the bundle from {source} did not verify, "
            f"{out} kept as it was: {exc}"
        ) from exc
    partial = out.with_name(out.name + ".partial")
    partial.write_bytes(data)
    os.replace(partial, out)  # never a half-written bundle
    summary = {"out": str(out), "from": source, "bytes": len(data),
               "trust_list_version": loaded.trust_list.version,
               "status_lists": len(loaded.statuses), "dropped": len(loaded.dropped)}  # fmt: skip
    if as_json:
        emit_json(summary)
    else:
        say(f"信任包已更新 · trust bundle updated: {out} from {source} "
            f"(trust list version {loaded.trust_list.version})")  # fmt: skip
