"""Render test fixtures: ONE warm sidecar (bundle + browser) shared by every test here."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from modal_functions.render import project

from render_support import make_audio, make_images

REMOTION_READY = (
    shutil.which("node") is not None
    and (project.PROJECT_DIR / "node_modules" / "@remotion" / "renderer").is_dir()
    and Path(project.BROWSER).exists()
)


@pytest.fixture(scope="session")
def render_state():
    if not REMOTION_READY:
        pytest.skip("Remotion is not installed (make node) or chromium is missing")
    from modal_functions.render.capability import RenderState
    from modal_functions.render.sidecar import Sidecar

    sidecar = Sidecar(project.ensure_bundle())
    sidecar.ensure()
    state = RenderState(bundle=sidecar.bundle, sidecar=sidecar)
    yield state
    for sc in [sidecar, *state.extra]:
        sc.close()


@pytest.fixture(scope="session")
def assets(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("render-assets")
    images = make_images(folder)
    narration, music = make_audio(folder, 4.0)
    return {**images, "narration": narration, "music": music}


@pytest.fixture
def store(tmp_path):
    from modal_functions.storage.local import LocalStore

    return LocalStore(tmp_path / "store", "http://127.0.0.1:1", "test-secret")


@pytest.fixture
def run_render(render_state, store, tmp_path):
    """Run the render_video capability on a request dict; returns (result, progress list, store)."""
    from modal_functions.render.capability import CAPABILITY
    from modal_functions.runtime.context import LocalTaskContext

    def run(body: dict):
        request = CAPABILITY.request_model.model_validate(body)
        CAPABILITY.validate(request)
        progress = []
        with LocalTaskContext(job_id="t", on_progress=progress.append, store=store, allow_local_paths=True) as ctx:
            result = CAPABILITY.run(render_state, request, ctx)
            left_behind = list(ctx.workdir.iterdir())
        return result, progress, left_behind

    return run


@pytest.fixture
def own_sidecar(render_state, assets):
    """A sidecar of the test's own (one it may crash or kill), with a red scene staged as red.png."""
    import shutil

    from modal_functions.render import project
    from modal_functions.render.sidecar import Sidecar

    sc = Sidecar(project.ensure_bundle())
    sc.ensure()
    shutil.copyfile(assets["red"], sc.serve_dir / "red.png")
    yield sc
    sc.close()
