"""`canvascast artifacts put|url|cleanup` against the local store."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from modal_functions.cli import main
from modal_functions.settings import get_settings


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("CANVASCAST_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ARTIFACT_STORE", "local")
    monkeypatch.setenv("ARTIFACT_RETENTION_DAYS", "2")
    get_settings.cache_clear()
    yield tmp_path / "data"
    get_settings.cache_clear()


def test_put_prints_artifact_ref(data_dir: Path, tmp_path: Path, capsys):
    f = tmp_path / "frame.png"
    f.write_bytes(b"\x89PNG cli")
    assert main(["artifacts", "put", str(f)]) == 0
    ref = json.loads(capsys.readouterr().out)
    digest = hashlib.sha256(b"\x89PNG cli").hexdigest()
    assert ref["key"] == f"artifacts/sha256/{digest[:2]}/{digest}.png"
    assert ref["content_type"] == "image/png" and "sig=" in ref["url"]
    assert (data_dir / "store" / ref["key"]).read_bytes() == b"\x89PNG cli"


def test_cleanup_uses_retention_setting(data_dir: Path, tmp_path: Path, capsys):
    f = tmp_path / "a.wav"
    f.write_bytes(b"old audio")
    main(["artifacts", "put", str(f)])
    key = json.loads(capsys.readouterr().out)["key"]
    path = data_dir / "store" / key
    three_days_ago = path.stat().st_mtime - 3 * 86400
    os.utime(path, (three_days_ago, three_days_ago))
    assert main(["artifacts", "cleanup", "--older-than-days", "4"]) == 0
    assert path.exists()
    assert main(["artifacts", "cleanup"]) == 0  # ARTIFACT_RETENTION_DAYS=2
    assert "removed 1 artifact(s) older than 2 day(s)" in capsys.readouterr().out
    assert not path.exists()


def test_url_refuses_bad_key(data_dir: Path, capsys):
    assert main(["artifacts", "url", "../../etc/passwd"]) == 1
    assert "invalid_key" in capsys.readouterr().err
