"""What the fast paths share (:mod:`gateway.fast_path`): request ids drawn in bulk."""

from __future__ import annotations

import os
import re
import threading

from gateway import fast_path


def test_request_ids_are_16_hex_digits_and_never_repeat_across_refills() -> None:
    """Drawn 256 at a time: past several refills, from several threads, every id is fresh."""
    drawn: list[bytes] = []

    def draw() -> None:
        drawn.extend(fast_path.new_id() for _ in range(700))

    threads = [threading.Thread(target=draw) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(drawn) == 2800
    assert len(set(drawn)) == len(drawn)
    assert all(re.fullmatch(rb"[0-9a-f]{16}", rid) for rid in drawn)


def test_a_forked_process_draws_its_own_ids() -> None:
    """The ids a parent drew and holds are not handed out again by a forked child."""
    fast_path.new_id()  # the pool filled: 255 held
    held = set(fast_path._ids)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its first ids, to the parent
        try:
            os.write(write, b"".join(fast_path.new_id() for _ in range(8)))
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        drawn = pipe.read()
    os.waitpid(pid, 0)
    child = {drawn[i : i + 16] for i in range(0, len(drawn), 16)}
    assert len(child) == 8
    assert not child & held
