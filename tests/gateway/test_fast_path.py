"""What the fast paths share (:mod:`gateway.fast_path`): request ids drawn in bulk."""

from __future__ import annotations

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
