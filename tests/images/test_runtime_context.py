"""generate_images under the runtime's own TaskContext (progress reporter, store, workdir).

The warm pool's process plumbing is the runtime's to test; here the capability runs
in-process under `runtime.context.LocalTaskContext` with a real LocalStore, so what the
pool would record (progress per image, the result) is checked without spawning a worker.
"""

from __future__ import annotations

import io

from PIL import Image

from modal_functions.contract.images import GenerateImagesRequest, GenerateImagesResult
from modal_functions.images import capability
from modal_functions.runtime.context import LocalTaskContext
from modal_functions.settings import Settings
from modal_functions.storage import get_store


def test_runs_under_the_runtime_context_with_a_real_store(fake, make_engine, tmp_path):
    settings = Settings(_env_file=None, CANVASCAST_DATA_DIR=str(tmp_path / "data"))
    store = get_store(settings)
    updates, beats = [], []
    request = GenerateImagesRequest.model_validate(
        {"prompts": ["a fox", "a whale", "a heron"], "style": {"aspect_ratio": "3:4"}}
    )
    with LocalTaskContext(settings=settings, store=store, on_progress=updates.append, on_heartbeat=lambda: beats.append(1)) as ctx:
        result = capability.CAPABILITY.run(make_engine(), request, ctx)
        workdir = ctx.workdir
    assert not workdir.exists()

    assert isinstance(result, GenerateImagesResult)
    assert (result.succeeded, result.failed, result.degraded) == (3, 0, False)
    assert updates[-1].done == 3 and updates[-1].total == 3 and updates[-1].unit == "images"
    for item in result.images:
        with Image.open(io.BytesIO(store.read_bytes(item.artifact.key))) as im:
            assert im.size == (48, 64) == (item.width, item.height)  # the fake answers 3:4
    assert sorted(r.body["contents"][0]["parts"][0]["text"].split("\n")[0] for r in fake.requests) == ["a fox", "a heron", "a whale"]
    # the cache index lives in the same store: a second run is free
    with LocalTaskContext(settings=settings, store=store) as ctx2:
        again = capability.CAPABILITY.run(make_engine(), request, ctx2)
    assert all(im.cached for im in again.images) and len(fake.requests) == 3
