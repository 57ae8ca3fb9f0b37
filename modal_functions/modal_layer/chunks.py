"""# One render chunk in its own container (`render_chunk.map(chunks)`)

A long render is split into frame ranges that render in parallel on many-core
containers; each chunk file is written under `/cache/chunks/<job>/` on the Volume
(the only other thing the Volume holds besides weights) and committed, so the
`render_video` container can reload the Volume and combine them. When that job
ends, on any path, `drop_chunks` removes the job's chunk dir from the Volume.

The chunk itself is rendered by the plain render code (`modal_functions.render`):
this module only moves files between the container's disk and the Volume.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

from ..errors import INTERNAL, CapabilityError

CHUNK_MODULE = "modal_functions.render.chunks"


def chunk_dir(job_id: str) -> Path:
    root = Path(os.environ.get("RENDER_CHUNK_DIR", "/cache/chunks"))
    return root / job_id


def drop_chunks(job_id: str, volume: Any = None) -> bool:
    """Remove a job's chunk files from the Volume (after the join, or after a failure).

    Returns whether there was anything to remove; commits only then.
    """
    import shutil

    folder = chunk_dir(job_id)
    if not folder.exists():
        return False
    shutil.rmtree(folder, ignore_errors=True)
    if volume is not None:
        volume.commit()
    return True


def render_one_chunk(chunk: dict[str, Any], volume: Any = None) -> dict[str, Any]:
    """Render `chunk` (the render code's chunk spec + `job_id`) into the Volume's chunk dir."""
    try:
        module = importlib.import_module(CHUNK_MODULE)
    except ModuleNotFoundError as e:
        raise CapabilityError(INTERNAL, f"chunked rendering needs {CHUNK_MODULE}: {e}") from e
    out_dir = chunk_dir(chunk["job_id"])
    out_dir.mkdir(parents=True, exist_ok=True)
    result = module.render_chunk(chunk, out_dir)
    if volume is not None:
        volume.commit()
    return result


def map_chunks(specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """In the `render_video` container: render `specs` on parallel `render_chunk` containers.

    Returns the chunk results (paths under the Volume's chunk dir, visible here after the
    reload), ready for `modal_functions.render.chunks.combine`. Only works inside the
    deployed app; off Modal, render in-process (`render.chunks.render_chunked`).
    """
    from . import app as modal_app

    results = list(modal_app.render_chunk.map(specs))
    modal_app.cache.reload()
    return results
