"""Job progress of a chunked render never steps back when a chunk is retried.

A chunk that failed had its frames taken off the total (`done[index] = 0`) and its retry
counted up from zero again: a job at 36 of 36 frames went back to 19, then climbed again.
Progress is the frames rendered so far for good; a retry adds to it once it passes what
the failed attempt had reached.
"""

from __future__ import annotations

import threading

from modal_functions.errors import CapabilityError
from modal_functions.render import chunks as chunks_mod


def test_a_retried_chunk_does_not_take_progress_back(run_render, assets, monkeypatch):
    real = chunks_mod.render_chunk
    first_done = threading.Event()
    failed: list[int] = []

    def failing_once(spec, out_dir, **kw):
        result = real(spec, out_dir, **kw)
        if spec["index"] == 0:
            first_done.set()
        elif not failed:
            # all of this chunk's frames are counted; let chunk 0 finish too, so the total is at its top
            first_done.wait(timeout=120)
            failed.append(spec["index"])
            raise CapabilityError("render_failed", "a chunk that failed after its last frame", retryable=True)
        return result

    monkeypatch.setattr(chunks_mod, "render_chunk", failing_once)
    timeline = {
        "resolution": 360, "fps": 24, "durationMs": 1500,
        "scenes": [{"image": str(assets["red"]), "startMs": 0, "endMs": 1500}],
    }
    result, progress, _ = run_render({"timeline": timeline, "chunks": 2})
    assert failed and result.chunks == 2 and result.frames == 36
    done = [p.done for p in progress]
    assert done == sorted(done), f"progress stepped back: {done}"
