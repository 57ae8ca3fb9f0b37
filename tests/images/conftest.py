"""Fixtures for the image tests: the fake Gemini server, an in-memory store, a recording context.

The in-memory store implements the `ArtifactStore` protocol (content-addressed keys,
publish as a copy) so these tests do not depend on the storage module.
"""

from __future__ import annotations

import hashlib
import random
import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fake_genai_server import FakeGenAI  # noqa: E402

from modal_functions.contract.jobs import ArtifactRef  # noqa: E402
from modal_functions.images.batch import ImagesEngine  # noqa: E402
from modal_functions.images import capability  # noqa: E402
from modal_functions.images.capability import build_engine  # noqa: E402
from modal_functions.images.gemini import GeminiImages  # noqa: E402
from modal_functions.settings import Settings  # noqa: E402

CONTENT_TYPES = {"png": "image/png", "jpg": "image/jpeg", "json": "application/json", "webp": "image/webp"}


class MemoryStore:
    def __init__(self):
        self.objects: dict[str, bytes] = {}
        self.lock = threading.Lock()

    def put_bytes(self, data: bytes, ext: str, content_type: str | None = None) -> ArtifactRef:
        digest = hashlib.sha256(data).hexdigest()
        key = f"artifacts/sha256/{digest[:2]}/{digest}.{ext}"
        with self.lock:
            self.objects[key] = data
        return ArtifactRef(key=key, sha256=digest, size=len(data), content_type=content_type or CONTENT_TYPES[ext])

    def put_file(self, path, ext, content_type=None):
        return self.put_bytes(Path(path).read_bytes(), ext, content_type)

    def get_to_file(self, key, dest):
        Path(dest).write_bytes(self.read_bytes(key))
        return Path(dest)

    def read_bytes(self, key: str) -> bytes:
        with self.lock:
            return self.objects[key]

    def exists(self, key: str) -> bool:
        with self.lock:
            return key in self.objects

    def signed_url(self, key, expires_in=3600):
        return f"memory://{key}"

    def publish(self, key: str, owner: str, id: str) -> ArtifactRef:
        data = self.read_bytes(key)
        ext = key.rsplit(".", 1)[1]
        dest = f"renders/{owner}/{id}.{ext}"
        with self.lock:
            self.objects[dest] = data
        return ArtifactRef(key=dest, sha256=hashlib.sha256(data).hexdigest(), size=len(data), content_type=CONTENT_TYPES[ext])

    def cleanup(self, older_than_seconds):
        return 0

    def images(self) -> list[str]:
        return [k for k in self.objects if k.startswith("artifacts/") and not k.endswith(".json")]


class RecordingCtx:
    """A TaskContext that records progress and heartbeats."""

    def __init__(self, store, workdir: Path):
        self.job_id = "job-test"
        self.attempt = 1
        self.workdir = workdir
        self.store = store
        self.progress_calls: list[tuple] = []
        self.heartbeats = 0

    def progress(self, done, total=None, unit=None, message=None):
        self.progress_calls.append((done, total, unit, message))

    def heartbeat(self):
        self.heartbeats += 1

    def fetch_input(self, ref, suffix=""):
        raise NotImplementedError


@pytest.fixture(scope="session")
def _fake_server():
    with FakeGenAI() as server:
        yield server


@pytest.fixture
def fake(_fake_server):
    _fake_server.reset()
    yield _fake_server
    _join_batch_threads()
    _fake_server.reset()


def _join_batch_threads(bound_s: float = 30.0) -> None:
    """Wait for the batch's `images_*` threads an interrupted batch left running.

    An interrupted `generate` returns without waiting for the prompt already running (by
    design: Ctrl-C exits at once), so its call may still be on its way to the fake. The
    server cannot tell a request not yet sent from an idle keep-alive connection, so the
    fake's reset cannot wait for it: it would land in the next test's `fake.requests`.
    The threads end by themselves once their call returns (the batch stopped them)."""
    for thread in [t for t in threading.enumerate() if t.name.startswith("images_")]:
        thread.join(bound_s)
        assert not thread.is_alive(), f"{thread.name} still running {bound_s:g} s after its test"


@pytest.fixture(scope="session")
def _clients():
    """One SDK client per configuration for the whole session (building one costs ~0.1 s of TLS setup)."""
    cache: dict[tuple, object] = {}
    yield cache
    for client in cache.values():
        client.close()


@pytest.fixture(autouse=True)
def _reuse_clients(monkeypatch, _clients):
    real = capability.make_client

    def cached(**kwargs):
        key = tuple(sorted(kwargs.items()))
        if key not in _clients:
            _clients[key] = real(**kwargs)
        return _clients[key]

    monkeypatch.setattr(capability, "make_client", cached)
    monkeypatch.setattr(GeminiImages, "close", lambda self: None)  # shared clients close at session end


@pytest.fixture
def store():
    return MemoryStore()


@pytest.fixture
def ctx(store, tmp_path):
    return RecordingCtx(store, tmp_path)


@pytest.fixture
def waits():
    """The injected sleep: records every wait instead of sleeping."""
    return []


@pytest.fixture
def make_engine(fake, waits):
    """An engine on the REAL SDK pointed at the fake server; no real sleeping, seeded jitter."""
    def make(seed: int = 7, **env) -> ImagesEngine:
        fields = {"GEMINI_API_KEY": "test-key", "IMAGE_API_BASE_URL": fake.url, "IMAGE_TIMEOUT_S": 5} | env
        settings = Settings(_env_file=None, **{k: v for k, v in fields.items() if v is not None})
        engine = build_engine(settings, sleep=waits.append, rng=random.Random(seed), slots=threading.BoundedSemaphore(8))
        return engine

    yield make  # engines share session clients: nothing to close here


@pytest.fixture(autouse=True)
def _no_image_env(monkeypatch):
    """Tests decide every image setting themselves."""
    for name in ("GEMINI_API_KEY", "GOOGLE_API_KEY", "IMAGE_MODEL", "IMAGE_API_BASE_URL", "IMAGE_FALLBACK", "IMAGE_VERTEX",
                 "IMAGE_CONCURRENCY", "IMAGE_TIMEOUT_S", "IMAGE_MAX_ATTEMPTS"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def env(monkeypatch, tmp_path):
    """A CLI run's settings: a local store in the test's own data dir (settings re-read around it)."""
    from modal_functions.settings import get_settings

    monkeypatch.setenv("CANVASCAST_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ARTIFACT_STORE", "local")
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()
