"""A crash in one prompt fails that prompt with a message a user can read: no temp paths."""

from __future__ import annotations

import errno

from modal_functions.contract.images import GenerateImagesRequest
from modal_functions.images.batch import ImagesEngine


def test_an_os_error_in_one_prompt_does_not_show_its_temp_file(store, monkeypatch):
    def disk_full(data, ext, content_type=None):
        raise OSError(errno.ENOSPC, "No space left on device", "/tmp/canvascast-job-7-x1y2/.3f9a.part")

    monkeypatch.setattr(store, "put_bytes", disk_full)
    engine = ImagesEngine(provider=None, model="gemini-2.5-flash-image", fallback="placeholder")
    result = engine.generate(GenerateImagesRequest(prompts=["a lighthouse"]), store)
    (item,) = result.images
    assert item.status == "failed" and item.error.code == "internal"
    assert item.error.message == "OSError: No space left on device"
