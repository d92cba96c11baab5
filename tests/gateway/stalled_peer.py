"""A peer that never answers: a loopback server that accepts, reads the request, and then
either says nothing (``silent``) or sends one byte of a never-ending status line every
``every`` seconds (``drip``: each read gets a byte before httpx's 5 s read timeout, so only a
deadline for the whole fetch ends it). Always stopped by whoever started it (a context manager).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from types import TracebackType

SILENT, DRIP = "silent", "drip"
JOIN = 5.0  # seconds to wait for the server's threads once stopped


class StalledPeer:
    def __init__(self, mode: str = SILENT, *, every: float = 4.0) -> None:
        if mode not in (SILENT, DRIP):
            raise ValueError(f"expected mode {SILENT!r} or {DRIP!r}, found {mode!r}")
        self.mode, self.every = mode, every
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)  # accept() looks at the stop this often
        self.port: int = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.requests: list[bytes] = []  # the request heads received, in order
        self._closing = threading.Event()
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> StalledPeer:
        self._start(self._accept)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _start(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:  # closed by stop()
                return
            conn.settimeout(None)
            with self._lock:
                self._conns.append(conn)
            self._start(self._stall, conn)

    def _stall(self, conn: socket.socket) -> None:
        head = b""
        try:
            while b"\r\n\r\n" not in head and len(head) < 65536:
                data = conn.recv(4096)
                if not data:
                    return
                head += data
            with self._lock:
                self.requests.append(head)
            drip = b"HTTP/1.1 200 OK\r\nX-Stalled: " if self.mode == DRIP else b""
            sent = 0
            while not self._closing.wait(self.every if drip else None):
                conn.sendall(drip[sent : sent + 1] or b"z")
                sent += 1
        except OSError:  # the client gave up, or stop() closed the socket
            return

    def received(self) -> int:
        """How many request heads arrived (each is a fetch in flight, never answered)."""
        with self._lock:
            return len(self.requests)

    def wait_for_request(self, timeout: float) -> float:
        """Seconds until a request arrived (a bounded poll); fails after ``timeout``."""
        start = time.monotonic()
        while not self.received():
            if time.monotonic() - start > timeout:
                raise AssertionError(f"no request reached the stalled peer in {timeout:.0f}s")
            time.sleep(0.05)
        return time.monotonic() - start

    def stop(self) -> None:
        self._closing.set()
        self._listener.close()
        with self._lock:
            conns, threads = list(self._conns), list(self._threads)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()
        deadline = time.monotonic() + JOIN
        for thread in threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
