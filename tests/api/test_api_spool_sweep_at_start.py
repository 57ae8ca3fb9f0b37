"""A server start removes the spool files (`*.part`) a crash left, and only those.

A process killed mid-write leaves its spool behind: an upload's in `$CANVASCAST_DATA_DIR/uploads`
or the local store's `.tmp`, a job's store write in `.tmp`. `canvascast artifacts cleanup` removes
them after an hour, but a deployment without that cron kept them for ever. Now every writer holds
its spool (a lock the OS drops when the process dies) and a server start removes the spools nobody
holds, whatever their age; a write in progress in another process on the same data dir is kept.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

from fastapi.testclient import TestClient

from modal_functions.api.main import create_app
from modal_functions.storage.local import LocalStore

from api_support import TOKEN, FakeBackend, make_settings


def test_a_server_start_removes_crash_leftover_spools_and_keeps_live_ones(tmp_path: Path):
    settings = make_settings(tmp_path)
    data = Path(settings.data_dir)
    store = LocalStore(data / "store", "http://127.0.0.1:1", "s3cret")
    uploads = data / "uploads"
    uploads.mkdir(parents=True)
    # what killed processes left, written a moment ago (younger than cleanup's hour)
    crashed = [data / "store" / ".tmp" / ".0123456789abcdef.part", data / "store" / ".tmp" / ".upload-0123456789abcdef.part",
               uploads / ".upload-fedcba9876543210.part"]
    for path in crashed:
        path.write_bytes(b"half an upload")
    not_a_spool = uploads / "notes.txt"
    not_a_spool.write_text("not ours to remove")

    # a store write in progress (another process on this data dir, e.g. `canvascast artifacts put`)
    resume, written = threading.Event(), threading.Event()

    def chunks():
        yield b"first half, "
        written.set()
        resume.wait(30)
        yield b"second half"

    stored: list = []
    writer = threading.Thread(target=lambda: stored.append(store.put_stream(chunks(), "txt")))
    writer.start()
    try:
        assert written.wait(30)
        backend = FakeBackend()
        try:
            with TestClient(create_app(settings, backend), headers={"Authorization": f"Bearer {TOKEN}"}) as client:
                assert client.get("/health").status_code == 200
                for path in crashed:
                    assert not path.exists(), path
                assert not_a_spool.exists()
                assert len(list((data / "store" / ".tmp").glob("*.part"))) == 1  # the live write's spool
        finally:
            backend.close()
    finally:
        resume.set()
        writer.join(30)
    (ref,) = stored  # the live write lands whole
    assert ref.sha256 == hashlib.sha256(b"first half, second half").hexdigest()
    assert store.read_bytes(ref.key) == b"first half, second half"
    assert list((data / "store" / ".tmp").glob("*.part")) == []
