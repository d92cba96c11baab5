"""What the bare ASGI fast paths in front of the app share (:mod:`gateway.fast_verify`,
:mod:`gateway.fast_issue`): the answer's own headers and status, the body read up to its bound
and replayed when the request is handed to the app after all, and the house 500.

Deliberately not here: what each path takes, checks and answers.
"""

from __future__ import annotations

import os
import secrets
from typing import TYPE_CHECKING

import orjson

from gateway import observe
from gateway.http_errors import NOSNIFF, ASGIApp, Message, Receive, Send

if TYPE_CHECKING:
    from gateway.core import Gateway
    from gateway.observe import AccessLog, Observed
    from gateway.ratelimit import Limiter

# The content types taken by a fast path; any other (``+json`` types, parameters) goes to the
# app, which knows them all.
JSON_TYPES = frozenset({b"application/json", b"application/json; charset=utf-8"})
JSON_HEADER = (b"content-type", b"application/json")
_INTERNAL = orjson.dumps(
    {
        "detail": {
            "code": "internal",
            "message": "服务器内部错误，请稍后重试",
            "message_en": "internal error; try again later",
        }
    }
)


class FastPath:
    """A fast path in front of ``app``: what it hands on to, and what every path reads."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        gw: Gateway,
        limiter: Limiter,
        observed: Observed,
        access_log: AccessLog | None,
        body_limit: int,
    ) -> None:
        self.app = app
        self.gw = gw
        self.limiter = limiter
        self.observed = observed
        self.access_log = access_log
        self.body_limit = body_limit

    def plain_json(self, types: int, content_type: bytes | None, lengths: int,
                   declared: bytes | None) -> bool:  # fmt: skip
        """One JSON content type, at most one ``Content-Length``, within the body bound: what
        a fast path takes (the app's own checks answer anything else)."""
        return (
            types == 1
            and lengths <= 1
            and content_type is not None
            and content_type.lower() in JSON_TYPES
            and (declared is None or (declared.isdigit() and int(declared) <= self.body_limit))
        )


class Handed(Exception):
    """The request goes to the app after all (the body read so far is replayed)."""


_IDS_AT_ONCE = 256
_ids: list[bytes] = []
# A forked process (``ecert serve --workers``) must not hand out its parent's drawn ids.
os.register_at_fork(after_in_child=_ids.clear)


def new_id() -> bytes:
    """:func:`gateway.observe.new_id` drawn from the system's random source 256 at a time:
    one ``getrandom`` call for 256 answers instead of one each (the verify hot path). Safe
    across threads (apps served from several): each list operation is atomic."""
    try:
        return _ids.pop()
    except IndexError:
        drawn = secrets.token_hex(8 * _IDS_AT_ONCE).encode()
        fresh = [drawn[i : i + 16] for i in range(0, len(drawn), 16)]
        rid = fresh.pop()
        _ids.extend(fresh)
        return rid


class Answer:
    """One answer of a fast path: sends through ``send`` with ``nosniff`` and the request id
    added, remembering the status sent (500 until one is)."""

    def __init__(self, send: Send, rid: bytes | None) -> None:
        self._send = send
        self.request_id = rid if rid is not None and observe.sane_id(rid) else new_id()
        self.status = 500

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = int(message["status"])
            message["headers"] = [
                *message["headers"],
                NOSNIFF,
                (observe.REQUEST_ID_HEADER, self.request_id),
            ]
        await self._send(message)

    async def json(self, status: int, content: bytes, *extra: tuple[bytes, bytes]) -> None:
        """A JSON answer of ``content`` (serialised already) with ``extra`` headers: the
        headers :meth:`__call__` adds written in place (the verify hot path)."""
        self.status = status
        headers = [(b"content-length", b"%d" % len(content)), JSON_HEADER, *extra, NOSNIFF,
                   (observe.REQUEST_ID_HEADER, self.request_id)]  # fmt: skip
        await self._send({"type": "http.response.start", "status": status, "headers": headers})
        await self._send({"type": "http.response.body", "body": content})

    async def internal(self) -> None:
        """The house 500, as the app's last handler answers, when nothing was sent yet."""
        if self.status == 500:
            await self.json(500, _INTERNAL)


async def read_body(receive: Receive, read: list[Message], limit: int) -> bytes:
    """The body, each message kept in ``read``; :class:`Handed` for a body over ``limit`` bytes
    or a client gone (the app answers each)."""
    size = 0
    while True:
        message = await receive()
        read.append(message)
        if message["type"] != "http.request":
            raise Handed
        size += len(message.get("body", b""))
        if size > limit:
            raise Handed
        if not message.get("more_body", False):
            break
    if len(read) == 1:
        return bytes(read[0].get("body", b""))
    return b"".join(m.get("body", b"") for m in read)


def replay(read: list[Message], receive: Receive) -> Receive:
    """``receive`` that first gives back the messages already read."""
    pending = list(reversed(read))

    async def again() -> Message:
        if pending:
            return pending.pop()
        return await receive()

    return again
