# # CanvasCast Compute on Modal
#
# The same HTTP job contract as the in-house server, deployed serverless. One Modal
# App holds:
#
# - `api`: an ASGI function serving the *same* FastAPI app as in-house
#   (`create_app` with the `ModalBackend`), kept warm (`min_containers`, default 1) so its
#   cold start never trips the worker's circuit breaker;
# - one thin function per capability, each a shell over the plain capability code
#   (`modal_functions/<domain>/capability.py`), run under the runtime's watchdog and
#   progress code (`runner.execute`): image generation on CPU (it only calls an API),
#   Whisper as a GPU class that loads its model in `@modal.enter` plus a CPU twin for
#   short audio, Remotion rendering on many-core CPU containers (+ a chunk function, one
#   spawned call per chunk), and the diagnostic kind for tests;
# - `reconcile_leases`: a `modal.Period` job that returns warm pools to their
#   `modal.toml` minimum when a warm lease expires and re-applies live leases after a
#   deploy.
#
# Every function's resources and scaling come from `modal.toml`
# (`CANVASCAST_MODAL_TOML` selects the file); `docs/modal.md` explains the keys and
# the deploy. Deploy from the repository root:
#
#     modal deploy -m modal_functions.modal_layer.app
#
# Smoke test (needs a token): `modal run -m modal_functions.modal_layer.app`.
# Without a token the app still builds, and every body runs with `.local()`.

from __future__ import annotations

from typing import Any

import modal

from modal_functions.config import load_config
from modal_functions.modal_layer.image import (
    CACHE_DIR,
    cpu_image,
    render_image,
    whisper_cpu_image,
    whisper_image,
)
from modal_functions.modal_layer.primitives import jobs_dict_name
from modal_functions.modal_layer.settings_from_toml import object_kwargs

# ## Configuration: one modal.toml, validated (an unknown key is an error)

CONFIG = load_config()
app = modal.App(CONFIG.app.name)

# The Volume holds model weights (`models/ct2-<name>/`) and render chunks
# (`chunks/<job>/`) and nothing else: results go to the artifact store.
cache = modal.Volume.from_name(CONFIG.app.volume, create_if_missing=True)
# The Secret holds the credentials (see docs/modal.md for its keys). The required ones are
# checked by Modal at deploy time, so a Secret without them fails the deploy, not the
# first job (or the front door's start, which refuses to serve without COMPUTE_TOKEN).
REQUIRED_SECRET_KEYS = ["COMPUTE_TOKEN", "ARTIFACT_SIGNING_SECRET", "SUPABASE_URL", "SUPABASE_SERVICE_ROLE_KEY"]
secrets = [modal.Secret.from_name(CONFIG.app.secret, required_keys=REQUIRED_SECRET_KEYS)]
# The front door's data dir: container disk (uploads are spooled there before they go to
# the artifact store), with `models/` linked to the read-only Volume's weights.
API_DATA_DIR = "/srv/canvascast"


def settings(name: str) -> dict[str, Any]:
    """Decorator arguments for the Modal object `name`, from modal.toml."""
    return object_kwargs(CONFIG, name)


def _resource(name: str) -> str:
    kw = settings(name)
    return kw["gpu"] or f"cpu:{kw['cpu']:g}"


_LOCAL_JOBS: dict[str, Any] = {}


def jobs_dict() -> Any:
    """The jobs `modal.Dict` in a container; a plain dict when a body runs via `.local()`."""
    if modal.is_local():
        return _LOCAL_JOBS
    return modal.Dict.from_name(jobs_dict_name(CONFIG.app.name), create_if_missing=True)


def run_job(job: dict[str, Any], name: str, **kwargs: Any) -> dict[str, Any]:
    from modal_functions.modal_layer.runner import execute

    return execute(job, jobs_dict(), resource=_resource(name), config=CONFIG, **kwargs)


# ## The front door: the same FastAPI app as in-house


# The Volume is mounted read-only here only so submission checks see which Whisper
# models are installed (`models/ct2-<name>/`); the front door never writes to it. Its
# data dir is NOT the Volume: `POST /v1/artifacts` spools uploads under the data dir,
# which on a read-only mount would fail every upload.
@app.function(
    image=cpu_image,
    secrets=secrets,
    volumes={CACHE_DIR: cache.with_mount_options(read_only=True)},
    env={"CANVASCAST_DATA_DIR": API_DATA_DIR},
    **settings("api"),
)
@modal.concurrent(max_inputs=100)
@modal.asgi_app()
def api():
    """`create_app` with the Modal backend. Long work is spawned; requests answer within 150 s."""
    from modal_functions.api.main import create_app
    from modal_functions.modal_layer.backend import ModalBackend
    from modal_functions.modal_layer.primitives import ModalPrimitives
    from modal_functions.modal_layer.weights import link_models

    if not modal.is_local():
        link_models(API_DATA_DIR, CACHE_DIR)

    from modal_functions.modal_layer.settings_from_toml import front_door_settings
    from modal_functions.settings import get_settings

    settings = front_door_settings(get_settings(), CONFIG)
    return create_app(settings, backend=ModalBackend(CONFIG, ModalPrimitives(CONFIG.app.name)))


# ## Image generation: CPU only, it calls the Gemini API


@app.function(image=cpu_image, secrets=secrets, **settings("generate_images"))
def generate_images(job: dict[str, Any]) -> dict[str, Any]:
    return run_job(job, "generate_images")


# ## Whisper alignment: a GPU class, and its CPU twin for short audio
#
# The model loads once per container in `@modal.enter`, from the weights that
# `canvascast modal upload-weights` put on the Volume. Resource by job size: audio
# shorter than `gpu_min_audio_seconds` stays on `TranscriberCPU`; an unsized job starts
# there, is measured with ffprobe, and long audio is handed to the GPU class.


class _Whisper:
    measures_audio = False  # the CPU twin measures unsized jobs and hands long audio to the GPU

    @modal.enter()
    def load(self) -> None:
        from modal_functions.modal_layer.runner import warm_state

        self.state, self.cold = warm_state("transcribe_audio")

    @modal.method()
    def run(self, job: dict[str, Any]) -> dict[str, Any]:
        from modal_functions.modal_layer.sizing import whisper_handoff

        cold, self.cold = self.cold, False
        threshold = CONFIG.function("transcribe_audio").gpu_min_audio_seconds
        handoff = whisper_handoff(threshold) if self.measures_audio else None
        return run_job(job, type(self).__name__, state=self.state, cold_start=cold, handoff=handoff)


@app.cls(image=whisper_image, secrets=secrets, volumes={CACHE_DIR: cache}, **settings("Transcriber"))
class Transcriber(_Whisper):
    pass


@app.cls(image=whisper_cpu_image, secrets=secrets, volumes={CACHE_DIR: cache}, **settings("TranscriberCPU"))
class TranscriberCPU(_Whisper):
    measures_audio = True


# ## Rendering: Remotion encodes on the CPU, so many cores per container


@app.function(image=render_image, secrets=secrets, volumes={CACHE_DIR: cache}, **settings("render_video"))
def render_video(job: dict[str, Any]) -> dict[str, Any]:
    if modal.is_local():
        return run_job(job, "render_video")
    # Long renders fan out: one `render_chunk` call per chunk (spawned, owned), results
    # back through the Volume; the render code plans and combines them. When the attempt
    # ends, on any path (even a stall or timeout that leaves the body thread waiting, or
    # Modal's InputCancellation), the chunk calls still running are cancelled, then the
    # job's chunk files leave the Volume.
    # A render plans as many chunks as its share of the `render_chunk` containers: that
    # pool divided among the renders in flight (`chunks.chunk_share`, docs/modal.md).
    from modal_functions.modal_layer.chunks import owning_chunks, remote_for_render
    from modal_functions.modal_layer.primitives import active_dict_name
    from modal_functions.render.chunks import set_remote_chunks

    active = modal.Dict.from_name(active_dict_name(CONFIG.app.name), create_if_missing=True)
    set_remote_chunks(remote_for_render(CONFIG, active))
    with owning_chunks(job["job_id"], volume=cache):
        return run_job(job, "render_video")


# No Modal `retries` here (settings_from_toml): the fan-out retries a failed chunk alone
# itself (modal_layer/fanout.py), so a chunk never runs more than twice.
@app.function(image=render_image, secrets=secrets, volumes={CACHE_DIR: cache}, **settings("render_chunk"))
def render_chunk(chunk: dict[str, Any]) -> dict[str, Any]:
    """One chunk of a render, spawned once per chunk by `render_video`; the chunk file goes to the Volume."""
    from modal_functions.modal_layer.chunks import render_one_chunk

    return render_one_chunk(chunk, volume=None if modal.is_local() else cache)


# ## The diagnostic kind, for lifecycle tests through the real path


@app.function(image=cpu_image, **settings("diagnostic"))
def diagnostic(job: dict[str, Any]) -> dict[str, Any]:
    return run_job(job, "diagnostic")


# ## Warm leases: back to the modal.toml minimum when they expire, re-applied after a deploy


@app.function(image=cpu_image, schedule=modal.Period(minutes=1), cpu=0.25, memory=256, timeout=60, retries=0)
def reconcile_leases() -> dict[str, Any]:
    """Every minute: each object's min_containers = max(modal.toml, live leases); expired leases dropped.

    It also polls the jobs still counted as in flight, so admission never leaks a slot
    for a job whose result nobody came to read.
    """
    from modal_functions.modal_layer.backend import ModalBackend
    from modal_functions.modal_layer.primitives import ModalPrimitives

    backend = ModalBackend(CONFIG, ModalPrimitives(CONFIG.app.name))
    try:
        min_containers = backend.leases.reconcile()
    finally:
        # A failed autoscaler update must not skip the sweep too: that would hold the
        # admission slots of finished jobs until a later tick.
        in_flight = backend.sweep()
    return {"min_containers": min_containers, "in_flight": in_flight}


@app.function(image=cpu_image, volumes={CACHE_DIR: cache}, schedule=modal.Period(hours=1), cpu=0.25, memory=256, timeout=300, retries=0)
def sweep_chunks() -> dict[str, Any]:
    """Hourly: drop chunk dirs older than twice render_video's timeout (renders whose cleanup never ran)."""
    from modal_functions.modal_layer.chunks import sweep_stale_chunks

    cache.reload()
    return {"removed": sweep_stale_chunks(2 * CONFIG.function("render_video").timeout, volume=cache)}


# ## Weights: fill the Volume before the first deploy


@app.function(image=whisper_cpu_image, volumes={CACHE_DIR: cache}, timeout=3600, cpu=2.0, memory=4096)
def upload_weights(model: str = "") -> dict[str, Any]:
    """Download the production Whisper weights (CTranslate2) from the Hub into the Volume."""
    from modal_functions.modal_layer.weights import PRODUCTION_MODEL, download_into

    result = download_into(CACHE_DIR, model or PRODUCTION_MODEL)
    cache.commit()
    return result


# ## Smoke test: `modal run -m modal_functions.modal_layer.app`


@app.local_entrypoint()
def main(payload: str = "hello from modal") -> None:
    job = {"job_id": "smoke", "kind": "diagnostic", "input": {"action": "succeed", "payload": payload}}
    print(diagnostic.remote(job))
