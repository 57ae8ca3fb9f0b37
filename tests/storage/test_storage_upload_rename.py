"""`POST /v1/artifacts` with the local store writes the upload to disk once.

The route spools the body beside the store (`<root>/.tmp`) so that handing it over is a rename,
but `put_file` copied the spool into a second temp file: every upload (up to 512 MiB) was written
twice. Now the spool itself is renamed into its content-addressed place; the spool is still
removed on every other path (same bytes already stored, a failing store).
"""

from __future__ import annotations

import builtins
import hashlib
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from modal_functions.api.errors import install_error_handlers
from modal_functions.api.routers import artifacts
from modal_functions.settings import Settings, get_settings
from modal_functions.storage import base
from modal_functions.storage.local import LocalStore

TOKEN = "t0ken"


@pytest.fixture
def env(tmp_path: Path):
    settings = Settings(_env_file=None, CANVASCAST_DATA_DIR=tmp_path, COMPUTE_TOKEN=TOKEN)
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(artifacts.router)
    app.state.settings = settings
    app.dependency_overrides[get_settings] = lambda: settings
    store = LocalStore(tmp_path / "store", "http://testserver", "secret")
    app.state.artifact_store = store
    with TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        yield client, store


@pytest.fixture
def created(monkeypatch) -> list[int]:
    """The inode of every file opened for exclusive creation (a spool or a store temp file)."""
    inodes: list[int] = []
    real_open = builtins.open

    def recording_open(file, mode="r", *args, **kwargs):
        f = real_open(file, mode, *args, **kwargs)
        if "x" in mode:
            inodes.append(Path(file).stat().st_ino)
        return f

    monkeypatch.setattr(builtins, "open", recording_open)
    return inodes


def test_an_upload_is_renamed_into_the_local_store_not_copied(env, created):
    client, store = env
    data = b"\x89PNG" + bytes(range(256)) * 64
    r = client.post("/v1/artifacts", content=data, params={"ext": "png"})
    assert r.status_code == 201, r.text
    ref = r.json()
    assert ref["sha256"] == hashlib.sha256(data).hexdigest() and ref["size"] == len(data)
    assert store.read_bytes(ref["key"]) == data
    assert [store.path_for(ref["key"]).stat().st_ino] == created  # one file written: the spool, now the artifact
    assert list((store.root / ".tmp").iterdir()) == []


def test_an_upload_of_bytes_already_stored_leaves_no_spool(env, created):
    client, store = env
    data = b"already here"
    first = store.put_bytes(data, "txt")
    r = client.post("/v1/artifacts", content=data, params={"ext": "txt"})
    assert r.status_code == 201, r.text
    assert r.json()["key"] == first.key and store.read_bytes(first.key) == data
    assert list((store.root / ".tmp").iterdir()) == []


def test_a_store_that_cannot_take_the_spool_is_a_503_and_leaves_no_spool(env):
    client, store = env
    data = b"cannot land"
    digest = hashlib.sha256(data).hexdigest()
    shard = store.root / "artifacts" / "sha256" / digest[:2]
    shard.parent.mkdir(parents=True, exist_ok=True)
    shard.write_bytes(b"")  # a file where the shard directory goes: the rename cannot land
    try:
        r = client.post("/v1/artifacts", content=data, params={"ext": "txt"})
    finally:
        shard.unlink()
    assert r.status_code == 503, r.text
    body = r.json()["error"]
    assert (body["code"], body["retryable"]) == ("storage_unavailable", True)
    assert str(store.root) not in body["message"] and ".part" not in body["message"]
    assert list((store.root / ".tmp").iterdir()) == []
    assert client.post("/v1/artifacts", content=data, params={"ext": "txt"}).status_code == 201


def test_the_spool_helper_is_held_while_open(tmp_path: Path):
    """What the start sweep relies on: a spool in use is never taken, a dead one always is."""
    with base.spool(tmp_path) as (f, path):
        f.write(b"live")
        f.close()  # closed early (as the route does before the hand-off): still held
        assert base.sweep_dead_spools(tmp_path) == 0 and path.exists()
    assert not path.exists()
    (tmp_path / ".dead.part").write_bytes(b"crash")
    assert base.sweep_dead_spools(tmp_path) == 1 and list(tmp_path.iterdir()) == []
