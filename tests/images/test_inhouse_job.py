"""generate_images as a real job: the in-house pool's worker process runs the capability end to end."""

from __future__ import annotations

import io

from PIL import Image

from modal_functions.config import load_config
from modal_functions.contract.images import GenerateImagesResult
from modal_functions.contract.jobs import JobStatus
from modal_functions.runtime.inhouse import InHouseBackend
from modal_functions.runtime.testing import write_config
from modal_functions.settings import Settings, get_settings
from modal_functions.storage import get_store


def test_job_through_the_warm_pool(fake, tmp_path, monkeypatch):
    # the worker process reads its image settings from the environment, like a deployed server
    for name, value in {"CANVASCAST_DATA_DIR": str(tmp_path / "data"), "GEMINI_API_KEY": "test-key",
                        "IMAGE_API_BASE_URL": fake.url, "IMAGE_TIMEOUT_S": "5"}.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    settings = Settings(_env_file=None)
    config = load_config(write_config(tmp_path / "modal.toml", inhouse={"generate_images": {"workers": 1, "queue": 2}}))
    with InHouseBackend(config, settings, kinds=["generate_images"]) as backend:
        job = backend.submit("generate_images", {"prompts": ["a fox", "a whale", "a heron"], "style": {"aspect_ratio": "3:4"}})
        job = backend.wait(job.id, timeout=60)
    get_settings.cache_clear()

    assert job.status == JobStatus.succeeded, job.error
    result = GenerateImagesResult.model_validate(job.result)
    assert (result.succeeded, result.failed, result.degraded) == (3, 0, False)
    assert job.progress.done == 3 and job.progress.unit == "images"
    store = get_store(settings)
    for item in result.images:
        with Image.open(io.BytesIO(store.read_bytes(item.artifact.key))) as im:
            assert im.size == (48, 64)  # the fake answers 3:4
    assert len(fake.requests) == 3
    assert all(r.body["generationConfig"]["imageConfig"] == {"aspectRatio": "3:4"} for r in fake.requests)
