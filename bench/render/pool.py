"""(c) through the in-house render pool: what a `render_video` job with `chunks` does.

The job runs on one warm pool worker, which stages the assets from the artifact store,
renders chunk 0 on its sidecar and hands the other chunks to the pool's idle workers
(runtime/parts.py), then renders the soundtrack, joins, verifies with ffprobe and stores
the MP4. The clock runs from submission to the finished job record.
"""

from __future__ import annotations

import mimetypes
import os
import time
from pathlib import Path

from modal_functions.config import load_config
from modal_functions.runtime.inhouse import InHouseBackend
from modal_functions.runtime.testing import workers_where, write_config
from modal_functions.settings import Settings, get_settings
from modal_functions.storage import get_store

KIND = "render_video"


class PoolRenders:
    def __init__(self, tmp: Path, assets: Path, bundle: Path, workers: int):
        os.environ["REMOTION_BUNDLE_DIR"] = str(bundle)  # the workers reuse the bench's bundle
        os.environ["CANVASCAST_DATA_DIR"] = str(tmp / "pool-data")  # submission checks read the process settings
        get_settings.cache_clear()
        settings = Settings(_env_file=None, CANVASCAST_DATA_DIR=str(tmp / "pool-data"))
        config = load_config(write_config(tmp / "modal.toml", inhouse={KIND: {"workers": workers, "queue": 4, "preload": True}}))
        self.workers = workers
        self.backend = InHouseBackend(config, settings, kinds=[KIND])
        self.store = get_store(settings)
        self.keys = {
            p.name: self.store.put_file(p, p.suffix, mimetypes.guess_type(p.name)[0]).key
            for p in sorted(assets.iterdir())
        }

    def ref(self, name: str) -> str:
        return self.keys[name]

    def warm(self, timeline: dict) -> None:
        """Every worker loaded (bundle + browser) and each browser past its first render."""
        workers_where(self.backend, KIND, self.workers, timeout=300)
        self.render(timeline, self.workers, None)

    def render(self, timeline: dict, chunks: int, out: Path | None) -> float:
        started = time.monotonic()
        job = self.backend.submit(KIND, {"timeline": timeline, "chunks": chunks})
        job = self.backend.wait(job.id, timeout=3600)
        seconds = time.monotonic() - started
        if job.status.value != "succeeded":
            raise RuntimeError(f"pool render failed: {job.error}")
        if out is not None:
            self.store.get_to_file(job.result["video"]["key"], out)
        return seconds

    def close(self) -> None:
        self.backend.close()


__all__ = ["PoolRenders"]
