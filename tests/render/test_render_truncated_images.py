"""A scene image cut short (an interrupted upload or download) is a bad_asset before rendering.

Pillow's `verify()` reads only the structure of a JPEG, GIF or BMP, so a file missing its
second half passed staging, and chromium drew the half it had: the scene rendered half
black and the job "succeeded". Every format chromium shows as it is is checked here.
"""

from __future__ import annotations

import io

import numpy as np
import pytest

from modal_functions.contract.render import Timeline
from modal_functions.errors import CapabilityError
from modal_functions.render.assets import stage_assets
from modal_functions.runtime.context import LocalTaskContext


def _noise(fmt: str) -> bytes:
    from PIL import Image

    data = np.random.default_rng(5).integers(0, 256, (120, 200, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(data).save(out, fmt)
    return out.getvalue()


def _stage(image, serve_dir):
    t = Timeline.model_validate({"durationMs": 1000, "scenes": [{"image": str(image), "startMs": 0, "endMs": 1000}]})
    with LocalTaskContext(job_id="truncated", allow_local_paths=True) as ctx:
        return stage_assets(t, ctx.fetch_input, serve_dir, "http://127.0.0.1:1")


@pytest.mark.parametrize("fmt", ["JPEG", "GIF", "BMP", "PNG", "WEBP"])
def test_an_image_cut_in_half_is_a_bad_asset(tmp_path, fmt):
    whole = _noise(fmt)
    cut = tmp_path / f"scene.{fmt.lower()}"
    cut.write_bytes(whole[: len(whole) // 2])
    serve_dir = tmp_path / "serve"
    with pytest.raises(CapabilityError) as e:
        _stage(cut, serve_dir)
    assert e.value.code == "bad_asset" and e.value.http_status == 422
    assert "scenes[0]" in e.value.message
    assert not any(serve_dir.iterdir()), "staged assets must be removed on failure"


@pytest.mark.parametrize("fmt", ["JPEG", "GIF", "BMP", "PNG", "WEBP"])
def test_a_whole_image_is_staged_byte_for_byte(tmp_path, fmt):
    src = tmp_path / f"scene.{fmt.lower()}"
    src.write_bytes(_noise(fmt))
    data = src.read_bytes()
    staged = _stage(src, tmp_path / "serve")
    try:
        (url,) = staged.urls.values()
        assert (staged.folder / url.rsplit("/", 1)[1]).read_bytes() == data
    finally:
        staged.cleanup()
