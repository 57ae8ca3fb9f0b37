"""A batch interrupted mid-way sends no more prompts upstream (each would be charged)."""

from __future__ import annotations

import pytest

from modal_functions.contract.images import GenerateImagesRequest


class Interrupted(Exception):
    pass


def test_an_interrupted_batch_starts_no_more_upstream_calls(fake, make_engine, store):
    engine = make_engine(IMAGE_CONCURRENCY=1)
    prompts = [f"scene {i}" for i in range(8)]

    def progress(done, total, unit, message):
        if done >= 1:
            raise Interrupted  # Ctrl-C, a cancelled Modal input, a progress sink that failed

    with pytest.raises(Interrupted):
        engine.generate(GenerateImagesRequest(prompts=prompts), store, progress=progress)
    assert len(fake.requests) <= 2, f"{len(fake.requests)} of 8 prompts were sent after the interrupt"
