"""Blocking background work that a shutdown can stop without waiting on it for ever.

A thread cannot be cancelled. The gateway's background loops (:mod:`gateway.app`) run their
blocking steps (database polls, a federation sync, status list refreshes) through
:meth:`Background.run`: each step in a daemon thread of its own, never in asyncio's default
executor, because that executor is joined without a bound when its event loop closes
(``asyncio.run`` under uvicorn, the portal thread of Starlette's ``TestClient``) and its threads
again at interpreter exit. One step blocked on a peer or a lock would then hold the whole
shutdown for as long as it blocks.

Cancellation reaches a step cooperatively, through one ``threading.Event``: the fetcher aborts
a fetch in flight when it is set (:mod:`gateway.peers`), and the sync checks it between
fetches and before every write (:func:`checkpoint`, which raises :class:`Stopped`).
:meth:`Background.stop` sets it, then waits at most ``grace`` seconds for the steps still
running to end, so a write in progress commits or rolls back, and leaves any other to end
with the process. Every write of a step is one transaction: a thread abandoned mid-write
leaves nothing half written.

Deliberately not here: what the loops do and when (:mod:`gateway.app`,
:mod:`gateway.trustsync`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from typing import ParamSpec, TypeVar

log = logging.getLogger("ecert.background")
P = ParamSpec("P")
T = TypeVar("T")
POLL = 0.01  # seconds between looks at the threads still running, while stopping


class Stopped(Exception):
    """The gateway is stopping: background work ends here, before its next fetch or write."""


def checkpoint(stop: threading.Event | None) -> None:
    """Raise :class:`Stopped` once ``stop`` is set (``None``: never, e.g. ``ecert federation
    sync``, which ends with its command)."""
    if stop is not None and stop.is_set():
        raise Stopped("the gateway is stopping: background work ends before its next step")


class Background:
    """Runs blocking steps in daemon threads; :meth:`stop` ends them within a bound."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop_event = stop
        self._running: set[threading.Thread] = set()
        self._lock = threading.Lock()

    async def run(self, func: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """``func(*args, **kwargs)`` in a daemon thread. Cancelling the caller returns at once;
        the thread goes on until ``func`` returns or notices the stop."""
        checkpoint(self.stop_event)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()

        def settle(result: T | None, error: BaseException | None) -> None:
            if future.done():  # the caller was cancelled: nobody waits for this any more
                return
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)  # type: ignore[arg-type]

        def work() -> None:
            result: T | None = None
            error: BaseException | None = None
            try:
                result = func(*args, **kwargs)
            except BaseException as exc:  # handed to the awaiting task, never lost in a thread
                error = exc
            finally:
                with self._lock:
                    self._running.discard(threading.current_thread())
            with contextlib.suppress(RuntimeError):  # a closed loop: the caller is long gone
                loop.call_soon_threadsafe(settle, result, error)

        thread = threading.Thread(target=work, name=f"ecert-{func.__name__}", daemon=True)
        with self._lock:
            self._running.add(thread)
        thread.start()
        return await future

    def running(self) -> list[str]:
        """The names of the steps still running."""
        with self._lock:
            return sorted(t.name for t in self._running)

    async def stop(self, grace: float) -> list[str]:
        """Set the stop, then wait at most ``grace`` seconds for running steps to end. Returns
        the names of those still running (left to end with the process)."""
        self.stop_event.set()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while self.running() and loop.time() < deadline:
            await asyncio.sleep(POLL)
        left = self.running()
        if left:
            log.warning(
                "background work still running %.1fs after the stop, left to end with the "
                "process (each step is one transaction: nothing is half written): %s",
                grace,
                ", ".join(left),
            )
        return left
