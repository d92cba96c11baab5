"""A city's public documents as a folder any static web server or CDN can serve (``ecert publish``).

:func:`collect` asks the gateway's own app, in process, for every public document under the
URL path it serves it at: status lists and their index, the entity configurations (the city's,
each agency's and each counter's), the JWKS, the wallet metadata (``/.well-known/…``, ``/vct/…``),
the federation listing and historical keys, and (once there is one) the trust list and root.
Each body is the gateway's answer byte for byte, signed as the gateway signs it, with its
``Content-Type`` and ``Cache-Control`` (``max-age`` from the document's ``ttl``/``exp``, as
:mod:`gateway.public_docs` computes it at publishing time). A path the gateway answers 404 (a
city in no federation has no trust list) is left out. Beside them: ``trust/bundle``, the
offline kiosk bundle ``ecert trust export`` writes (the gateway serves no such URL).

:func:`write_site` writes them into ``DIR`` atomically: a new version folder beside it, then
``DIR`` (a symbolic link) switched to it with one ``rename``; the previous version is kept for
readers still on it, older ones removed. A web server never sees half a folder. Two files tell
servers the headers: ``_headers`` (Netlify, Cloudflare Pages) with ``_redirects`` for the two
paths that are also folders, and ``_nginx.conf`` (an nginx ``include`` inside a ``server``
block whose ``root`` is ``DIR``). Neither file is served by the configuration they give.

Deliberately not here: answers made per request (``/federation/fetch?sub=…``,
``/federation/resolve``, trust list deltas ``?since=``), which need the gateway; and any upload
to a CDN. Republish at least every ``ECERT_STATUS_TTL`` seconds (``max-age`` counts from the
publishing), then reload nginx (``nginx -s reload``): the include carries each document's
headers and paths, and nginx reads it when it starts or reloads.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import select

from gateway import trustexport
from gateway.core import Gateway
from gateway.errors import Conflict
from gateway.models import AgencyRow, StatusListRow, VerifierRow

MAX_DOCUMENTS = 50_000
MAX_BYTES = 2 * 1024**3  # all documents together
BUNDLE_PATH = "/trust/bundle"
HEADERS_FILE, REDIRECTS_FILE, NGINX_FILE = "_headers", "_redirects", "_nginx.conf"
FOLDER_INDEX = "index"  # the file of a path that is also a folder (/statuslists, /trust/root)
_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}|\.well-known")
PREFLIGHT = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "ETag",
    "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
    "Access-Control-Allow-Headers": "Accept, If-None-Match, If-Modified-Since",
    "Access-Control-Max-Age": "86400",
}


class PublishError(Conflict):
    """The folder cannot be written, or a document cannot be published."""


@dataclass(frozen=True)
class Document:
    path: str  # the URL path, e.g. /statuslists/3
    body: bytes
    content_type: str
    cache_control: str

    def headers(self) -> dict[str, str]:
        return {"Content-Type": self.content_type, "Cache-Control": self.cache_control, **PREFLIGHT}


def document_paths(gw: Gateway) -> list[str]:
    """The URL path of every public document of ``gw``."""
    paths = [
        "/.well-known/openid-federation", "/.well-known/jwks.json",
        "/.well-known/openid-credential-issuer", "/.well-known/oauth-authorization-server",
        "/statuslists", "/federation/list", "/federation/historical_keys",
        "/trust/list", "/trust/root", "/trust/root/history",
    ]  # fmt: skip
    with gw.sessions() as session:
        agencies = list(session.scalars(select(AgencyRow.id).order_by(AgencyRow.id)))
        counters = list(session.scalars(select(VerifierRow.id).order_by(VerifierRow.id)))
        lists = list(session.scalars(select(StatusListRow.id).order_by(StatusListRow.id)))
    paths += [f"/statuslists/{i}" for i in lists]
    for agency in agencies:
        paths += [f"/agencies/{agency}/.well-known/openid-federation",
                  f"/.well-known/jwt-vc-issuer/agencies/{agency}"]  # fmt: skip
    paths += [f"/verifiers/{v}/.well-known/openid-federation" for v in counters]
    paths += [f"/vct/{t.code}" for t in gw.types]
    if len(paths) > MAX_DOCUMENTS:
        raise PublishError(
            f"公开文档过多：{len(paths)} 个，上限 {MAX_DOCUMENTS} · too many documents to "
            f"publish: expected at most {MAX_DOCUMENTS}, found {len(paths)}"
        )
    return paths


async def _ask(gw: Gateway, paths: list[str]) -> list[Document]:
    from gateway.app import create_app

    app = create_app(gw)
    transport = httpx.ASGITransport(app=app)
    docs: list[Document] = []
    total = 0
    # identity: the bytes as signed; the web server compresses (the include turns gzip on)
    async with httpx.AsyncClient(
        transport=transport, base_url=gw.public_url, headers={"Accept-Encoding": "identity"}
    ) as client:
        for path in paths:
            answer = await client.get(path)
            if answer.status_code == 404:
                continue  # not served by this gateway (yet): no trust list in no federation
            if answer.status_code != 200:
                raise PublishError(
                    f"无法发布 {path}：网关答复 {answer.status_code} · cannot publish {path}: "
                    f"expected 200 from the gateway, found {answer.status_code}: "
                    f"{answer.text[:200]}"
                )
            total += len(answer.content)
            if total > MAX_BYTES:
                raise PublishError(
                    f"公开文档总量超过 {MAX_BYTES} 字节 · expected at most {MAX_BYTES} bytes "
                    f"of documents, found more by {path}"
                )
            media = answer.headers.get("content-type", "application/octet-stream")
            cache = answer.headers.get("cache-control", "no-cache")
            docs.append(Document(path, answer.content, media, cache))
    return docs


def collect(gw: Gateway) -> list[Document]:
    """Every public document of ``gw`` as the gateway serves it, and the kiosk bundle."""
    trustexport.prepare(gw)  # as the app's start does: a root due for renewal is renewed
    gw.reload()
    docs = asyncio.run(_ask(gw, document_paths(gw)))
    bundle = trustexport.export_bundle(gw)
    # a kiosk fetches it when it may; the trust list inside says how long it holds
    docs.append(Document(BUNDLE_PATH, bundle, "application/json", "public, max-age=60"))
    return docs


# --- the folder ----------------------------------------------------------------------------------


def _file_of(path: str, folders: set[str]) -> str:
    """The file (relative) holding the document at URL ``path``; checked segment by segment."""
    parts = path.strip("/").split("/")
    if not all(_SEGMENT.fullmatch(p) for p in parts):
        raise PublishError(
            f"文档路径不安全：{path!r} · expected URL path segments of letters, digits, '.', "
            f"'_' and '-', found {path!r}"
        )
    rel = "/".join(parts)
    return f"{rel}/{FOLDER_INDEX}" if path in folders else rel


def _folders(docs: list[Document]) -> set[str]:
    """The document paths that are also folders of other documents."""
    paths = {d.path for d in docs}
    return {p for p in paths if any(q.startswith(p + "/") for q in paths)}


def headers_file(docs: list[Document]) -> str:
    """``_headers`` (Netlify, Cloudflare Pages): each path's headers."""
    blocks = []
    for d in docs:
        lines = "".join(f"  {k}: {v}\n" for k, v in d.headers().items())
        blocks.append(f"{d.path}\n{lines}")
    return "# written by `ecert publish`: the headers of each document\n" + "".join(blocks)


def redirects_file(docs: list[Document]) -> str:
    """``_redirects``: the paths that are also folders, served from their ``index`` file."""
    lines = [f"{p} /{_file_of(p, {p})} 200\n" for p in sorted(_folders(docs))]
    return "# written by `ecert publish`\n" + "".join(lines)


def nginx_file(docs: list[Document]) -> str:
    """An nginx ``include`` for a ``server`` block whose ``root`` is the published folder."""
    folders = _folders(docs)
    types = sorted({d.content_type.split(";")[0] for d in docs})
    cors = "".join(f'        add_header {k} "{v}" always;\n' for k, v in PREFLIGHT.items())
    out = [
        "# written by `ecert publish`: include it in a server block whose root is this folder\n",
        "etag on;\ngzip on;\ngzip_vary on;\ngzip_min_length 512;\n",
        f"gzip_types {' '.join(types)};\n",
        "location ^~ /_ { return 404; }\n",  # these files, not documents
    ]
    for d in docs:
        media = d.content_type.split(";")[0]
        serve = (
            f"        try_files /{_file_of(d.path, folders)} =404;\n" if d.path in folders else ""
        )
        out.append(
            f"location = {d.path} {{\n"
            f"        types {{ }}\n        default_type {media};\n{serve}"
            f'        add_header Cache-Control "{d.cache_control}" always;\n{cors}'
            "        if ($request_method = OPTIONS) { return 204; }\n"
            "}\n"
        )
    return "".join(out)


def _unwritable(where: Path, exc: OSError) -> PublishError:
    return PublishError(
        f"无法写入发布目录 {where}：{exc.strerror} · cannot write the folder {where}: expected "
        f"a writable folder, found {exc.strerror}"
    )


def write_site(out: Path, docs: list[Document]) -> Path:
    """Write ``docs`` under ``out`` atomically (``out`` becomes a symbolic link to a new version
    folder beside it); the version folder's path."""
    out = out.absolute()
    if out.is_symlink():
        previous: Path | None = out.resolve()
    elif out.exists():
        if not out.is_dir() or any(out.iterdir()):
            raise PublishError(
                f"{out} 已存在且不是 ecert publish 写的目录 · expected {out} to be absent, an "
                "empty folder or a link `ecert publish` made, found another file or folder"
            )
        previous = None
    else:
        previous = None
    folders = _folders(docs)
    version = out.parent / f".{out.name}.{time.time_ns()}.{secrets.token_hex(3)}"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        version.mkdir()
        for d in docs:
            target = version / _file_of(d.path, folders)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(d.body)
        (version / HEADERS_FILE).write_text(headers_file(docs), encoding="utf-8")
        (version / REDIRECTS_FILE).write_text(redirects_file(docs), encoding="utf-8")
        (version / NGINX_FILE).write_text(nginx_file(docs), encoding="utf-8")
        for path in version.rglob("*"):  # readable by a web server running as another user
            path.chmod(0o755 if path.is_dir() else 0o644)
        version.chmod(0o755)
        link = out.parent / f".{out.name}.link-{secrets.token_hex(4)}"
        link.symlink_to(version.name)
        if out.is_dir() and not out.is_symlink():
            out.rmdir()  # the empty folder the operator made
        os.replace(link, out)  # the switch: one rename
    except OSError as exc:
        shutil.rmtree(version, ignore_errors=True)
        raise _unwritable(out, exc) from exc
    _prune(out, keep={version, *([previous] if previous else [])})
    return version


def _prune(out: Path, *, keep: set[Path]) -> None:
    """Remove the version folders of ``out`` older than the ones in ``keep``."""
    for old in out.parent.glob(f".{out.name}.*"):
        if (
            old.resolve() not in {k.resolve() for k in keep}
            and old.is_dir()
            and not old.is_symlink()
        ):
            shutil.rmtree(old, ignore_errors=True)


def check_out_folder(out: Path) -> None:
    """A clear error before any work when ``out``'s parent folder cannot take a new version."""
    parent = out.absolute().parent
    probe = parent
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise PublishError(
            f"{probe} 不是目录 · expected a folder at {probe} to hold {out.name}, found a file"
        )
    if not os.access(probe, os.W_OK | os.X_OK):
        raise PublishError(
            f"无法写入 {probe} · cannot write into {probe}: expected a writable folder to hold "
            f"{out.name} and its versions, found no write permission"
        )
