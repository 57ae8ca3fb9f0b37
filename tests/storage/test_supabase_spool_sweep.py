"""`canvascast artifacts cleanup` with ARTIFACT_STORE=supabase removes upload spools a crash left behind.

`POST /v1/artifacts` spools the body to `$CANVASCAST_DATA_DIR/uploads/.upload-<random>.part` and
removes it when the request ends; a process killed mid-request (OOM, SIGKILL, a host reboot)
leaves it there, up to COMPUTE_MAX_UPLOAD_BYTES each. The local store's cleanup removes such
leftovers from its `.tmp` spool folder; the Supabase store's cleanup never looked at its spool
folder, so they piled up on an in-house host for good. Like the local store, it now removes
spools untouched for an hour (no upload spends that long between writes or after its last one),
and leaves younger ones, which an upload in another process may still be writing or reading.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from fake_supabase_storage import FakeSupabaseStorage
from modal_functions.settings import Settings
from modal_functions.storage import get_store

KEY = "service-role-key"


def test_cleanup_removes_stale_upload_spools_and_keeps_live_ones(tmp_path: Path):
    with FakeSupabaseStorage(service_key=KEY) as fake:
        settings = Settings(CANVASCAST_DATA_DIR=tmp_path, ARTIFACT_STORE="supabase", SUPABASE_URL=fake.url,
                            SUPABASE_SERVICE_ROLE_KEY=KEY)
        spools = tmp_path / "uploads"
        spools.mkdir()
        crashed = spools / ".upload-0123456789abcdef.part"
        crashed.write_bytes(b"x" * 4096)
        two_hours_ago = time.time() - 2 * 3600
        os.utime(crashed, (two_hours_ago, two_hours_ago))
        live = spools / ".upload-fedcba9876543210.part"  # an upload in progress elsewhere
        live.write_bytes(b"y" * 1024)
        not_a_spool = spools / "notes.txt"
        not_a_spool.write_text("not ours to remove")
        os.utime(not_a_spool, (two_hours_ago, two_hours_ago))

        store = get_store(settings)
        kept = store.put_bytes(b"fresh artifact", "json")
        assert store.cleanup(7 * 86400) == 0  # spools are not artifacts: not counted

        assert not crashed.exists()
        assert live.read_bytes() == b"y" * 1024
        assert not_a_spool.exists()
        assert store.exists(kept.key)


def test_cleanup_without_a_spool_folder_is_fine(tmp_path: Path):
    with FakeSupabaseStorage(service_key=KEY) as fake:
        settings = Settings(CANVASCAST_DATA_DIR=tmp_path / "never-served", ARTIFACT_STORE="supabase",
                            SUPABASE_URL=fake.url, SUPABASE_SERVICE_ROLE_KEY=KEY)
        assert get_store(settings).cleanup(7 * 86400) == 0
        assert not (tmp_path / "never-served" / "uploads").exists()
