"""One socket write an answer (gateway.coalesce): the writes of one event loop turn go out
together, in order, and nothing kept is lost or delayed past a close, an EOF or that turn."""

from __future__ import annotations

import asyncio
from typing import Any

from gateway.coalesce import FLUSH_AT, CoalescingTransport
from tests.gateway.helpers import on_own_loop


class _Recorder(asyncio.Transport):
    """A transport that records what is written to it and what is done with it."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.events: list[str] = []
        self.closing = False

    def write(self, data: Any) -> None:
        assert not self.closing, "written after close"
        self.writes.append(bytes(data))
        self.events.append("write")

    def close(self) -> None:
        self.closing = True
        self.events.append("close")

    def write_eof(self) -> None:
        self.events.append("eof")

    def abort(self) -> None:
        self.closing = True
        self.events.append("abort")

    def is_closing(self) -> bool:
        return self.closing

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 5)}.get(name, default)

    def get_write_buffer_size(self) -> int:
        return 0


def _run(body: Any) -> None:
    on_own_loop(body, timeout=5)


def test_the_writes_of_one_turn_go_out_as_one_at_its_end() -> None:
    async def body() -> None:
        inner = _Recorder()
        transport = CoalescingTransport(inner, asyncio.get_running_loop())
        transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
        transport.write(b"{}")
        assert inner.writes == []  # kept until the turn ends
        assert transport.get_write_buffer_size() == 40
        await asyncio.sleep(0)
        assert inner.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]
        transport.write(b"next")  # a later turn: its own write
        await asyncio.sleep(0)
        assert inner.writes[1:] == [b"next"]

    _run(body)


def test_close_eof_and_a_protocol_switch_write_what_is_kept_first() -> None:
    async def body() -> None:
        loop = asyncio.get_running_loop()
        inner = _Recorder()
        transport = CoalescingTransport(inner, loop)
        transport.write(b"bye")
        transport.write_eof()
        assert inner.events == ["write", "eof"]
        transport.write(b"last")
        transport.close()
        assert inner.events == ["write", "eof", "write", "close"]
        assert inner.writes == [b"bye", b"last"]
        await asyncio.sleep(0)  # the turn's scheduled flush finds nothing and writes nothing
        assert inner.writes == [b"bye", b"last"]

    _run(body)


def test_an_abort_drops_what_is_kept_and_a_closed_transport_is_not_written() -> None:
    async def body() -> None:
        inner = _Recorder()
        transport = CoalescingTransport(inner, asyncio.get_running_loop())
        transport.write(b"dropped")
        transport.abort()
        await asyncio.sleep(0)
        assert inner.writes == []
        assert inner.events == ["abort"]
        assert transport.is_closing()

    _run(body)


def test_more_than_the_bound_kept_is_written_at_once() -> None:
    async def body() -> None:
        inner = _Recorder()
        transport = CoalescingTransport(inner, asyncio.get_running_loop())
        transport.write(b"h" * 10)
        transport.write(memoryview(b"b" * FLUSH_AT))
        assert inner.writes == [b"h" * 10 + b"b" * FLUSH_AT]  # bounded memory, in order
        transport.write(b"")  # nothing to write schedules nothing
        await asyncio.sleep(0)
        assert len(inner.writes) == 1
        assert transport.get_extra_info("peername") == ("127.0.0.1", 5)

    _run(body)
