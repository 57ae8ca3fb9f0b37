"""Behaviour both artifact stores share, checked by tests/storage/test_local_store.py and
test_supabase_store.py against their own store: error messages never name our files."""

from __future__ import annotations

from pathlib import Path

import pytest

from modal_functions.errors import CapabilityError


def check_put_file_errors_never_name_the_file(store, tmp_path: Path) -> None:
    """A spool file that is gone, or a directory, is `bad_request` without its path (it may be ours)."""
    spool = tmp_path / "uploads" / ".upload-0123abcd.part"
    for path in (spool, tmp_path):  # missing; a directory
        with pytest.raises(CapabilityError) as e:
            store.put_file(path, "png")
        assert (e.value.code, e.value.http_status) == ("bad_request", 400)
        assert str(tmp_path) not in e.value.message and "cannot read the file to store" in e.value.message


def check_get_to_file_errors_name_the_key_not_the_destination(store, tmp_path: Path) -> None:
    """A job's copy that cannot be written is `storage_unavailable` naming the key, not the job's folder."""
    ref = store.put_bytes(b"input", "wav")
    workdir = tmp_path / "canvascast-job-42-abcd"
    workdir.write_text("a file where the job's folder should be")
    for dest in (workdir / "input.wav", workdir / "in" / "input.wav"):
        with pytest.raises(CapabilityError) as e:
            store.get_to_file(ref.key, dest)
        assert e.value.code == "storage_unavailable" and ref.key in e.value.message
        assert str(tmp_path) not in e.value.message
