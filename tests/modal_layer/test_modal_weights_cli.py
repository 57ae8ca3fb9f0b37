"""`canvascast modal upload-weights` and `canvascast modal settings`, without a token."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

import pytest

from modal_functions.cli import main
from modal_functions.modal_layer.weights import plan_upload, upload_local, volume_dir


class FakeVolume:
    """`modal.Volume.batch_upload`: files land when the batch closes."""

    def __init__(self):
        self.files: dict[str, bytes] = {}

    @contextmanager
    def batch_upload(self, force: bool = False):
        pending: list[tuple[Path, str]] = []

        class Batch:
            def put_file(self, local, remote):
                pending.append((Path(local), str(remote)))

        yield Batch()
        for local, remote in pending:
            assert force or remote not in self.files
            self.files[remote] = local.read_bytes()


@pytest.fixture
def ct2_dir(tmp_path):
    d = tmp_path / "ct2-large-v3"
    d.mkdir()
    (d / "model.bin").write_bytes(b"\0" * 1024)
    (d / "config.json").write_text('{"alignment_heads": []}')
    (d / "tokenizer.json").write_text("{}")
    (d / "vocabulary.json").write_text("[]")
    (d / "README.md").write_text("not a weight file")
    return d


def test_weights_land_where_the_align_code_looks(ct2_dir):
    volume = FakeVolume()
    seen = []
    paths = upload_local(volume, ct2_dir, "large-v3", on_file=lambda local, remote: seen.append(str(remote)))
    assert set(volume.files) == set(paths) == set(seen)
    assert "/models/ct2-large-v3/model.bin" in volume.files  # = $CANVASCAST_DATA_DIR/models/ct2-<model> on /cache
    assert not any(p.endswith("README.md") for p in paths)


def test_a_directory_without_weights_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="model.bin"):
        plan_upload(tmp_path, "large-v3")
    with pytest.raises(ValueError):
        volume_dir("../etc")


def test_cli_uploads_to_the_configured_volume(ct2_dir, monkeypatch, capsys):
    import modal

    volume = FakeVolume()
    names = []
    monkeypatch.setattr(modal.Volume, "from_name", lambda name, **kw: names.append(name) or volume)
    assert main(["modal", "upload-weights", "--from", str(ct2_dir), "--model", "large-v3"]) == 0
    assert names == ["canvascast-cache"]
    out = json.loads(capsys.readouterr().out)
    assert out["model"] == "large-v3" and "/models/ct2-large-v3/model.bin" in out["files"]


@pytest.mark.skipif((Path.home() / ".modal.toml").exists(), reason="a Modal token is configured here")
def test_cli_without_a_token_says_so(ct2_dir, monkeypatch, capsys):
    monkeypatch.delenv("MODAL_TOKEN_ID", raising=False)
    monkeypatch.delenv("MODAL_TOKEN_SECRET", raising=False)
    assert main(["modal", "upload-weights", "--from", str(ct2_dir)]) == 2
    assert "no Modal token" in capsys.readouterr().err


def test_cli_settings_match_modal_toml(capsys):
    assert main(["modal", "settings"]) == 0
    out = capsys.readouterr().out
    assert "Transcriber" in out and "NO" not in out.split("matches", 1)[1]
