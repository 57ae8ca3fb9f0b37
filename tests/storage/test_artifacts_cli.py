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


def run(capsys, *argv: str) -> tuple[int, list[str], str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, [line for line in captured.err.splitlines() if line.strip()], captured.out


def stored(data_dir: Path) -> list[Path]:
    return [p for p in (data_dir / "store").rglob("*") if p.is_file() and ".tmp" not in p.parts]


def test_url_refuses_bad_key(data_dir: Path, capsys):
    status, err, out = run(capsys, "artifacts", "url", "../../etc/passwd")
    assert status == 2 and len(err) == 1 and err[0].startswith("canvascast artifacts: error [invalid_key]: ")
    assert out == ""


MISSING = "artifacts/sha256/aa/" + "a" * 64 + ".png"


def test_url_of_a_missing_key_is_an_error_not_a_url(data_dir: Path, capsys):
    status, err, out = run(capsys, "artifacts", "url", MISSING)
    assert (status, out) == (2, "")
    assert err == [f"canvascast artifacts: error [artifact_not_found]: no artifact at {MISSING}"]


@pytest.mark.parametrize("value", ["0", "-5", "604801", "99999999999999"])
def test_expires_in_outside_1s_to_7_days_is_refused(data_dir: Path, tmp_path: Path, capsys, value):
    f = tmp_path / "frame.png"
    f.write_bytes(b"\x89PNG cli")
    status, err, out = run(capsys, "artifacts", "put", str(f), "--expires-in", value)
    assert (status, out, len(err)) == (2, "", 1)
    assert err[0] == f"canvascast artifacts: error [bad_request]: --expires-in must be 1..604800 seconds (7 days), not {value}"
    assert stored(data_dir) == []  # checked before anything is stored
    assert main(["artifacts", "put", str(f)]) == 0
    key = json.loads(capsys.readouterr().out)["key"]
    status, err, out = run(capsys, "artifacts", "url", key, "--expires-in", value)
    assert (status, out, len(err)) == (2, "", 1) and "[bad_request]" in err[0]
    status, err, out = run(capsys, "artifacts", "url", key, "--expires-in", "604800")
    assert status == 0 and "sig=" in out


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "-1", "1e306"])
def test_cleanup_refuses_ages_that_are_not_finite_and_non_negative(data_dir: Path, tmp_path: Path, capsys, value):
    f = tmp_path / "a.wav"
    f.write_bytes(b"audio")
    main(["artifacts", "put", str(f)])
    capsys.readouterr()
    status, err, out = run(capsys, "artifacts", "cleanup", f"--older-than-days={value}")
    assert (status, out, len(err)) == (2, "", 1)
    assert err[0].startswith("canvascast artifacts: error [bad_request]: --older-than-days must be a finite number of days >= 0")
    assert len(stored(data_dir)) == 1


def test_cleanup_refuses_a_bad_retention_setting_by_name(data_dir: Path, capsys, monkeypatch):
    monkeypatch.setenv("ARTIFACT_RETENTION_DAYS", "nan")
    get_settings.cache_clear()
    status, err, _ = run(capsys, "artifacts", "cleanup")
    # Settings refuse it when they load (modal_functions/settings.py), before any store is opened.
    assert status == 2 and err == ["canvascast artifacts: error [config]: ARTIFACT_RETENTION_DAYS: Input should be a finite number"]


def test_put_names_the_users_file_never_a_temp_file(data_dir: Path, tmp_path: Path, capsys):
    missing = tmp_path / "nope.png"
    status, err, _ = run(capsys, "artifacts", "put", str(missing))
    assert status == 2 and err == [f"canvascast artifacts: error [bad_request]: {missing}: no such file"]
    status, err, _ = run(capsys, "artifacts", "put", str(tmp_path), "--ext", "png")
    assert status == 2 and err == [f"canvascast artifacts: error [bad_request]: {tmp_path}: not a regular file"]
    (tmp_path / "noext").write_bytes(b"x")
    status, err, _ = run(capsys, "artifacts", "put", str(tmp_path / "noext"))
    assert status == 2 and err == [f"canvascast artifacts: error [bad_request]: {tmp_path / 'noext'} has no suffix: give --ext"]
    status, err, _ = run(capsys, "artifacts", "put", str(tmp_path / "noext"), "--ext", "")
    assert status == 2 and len(err) == 1 and "[invalid_key]" in err[0]
    assert stored(data_dir) == []


def test_a_storage_failure_is_one_line_exit_1(data_dir: Path, tmp_path: Path, capsys, monkeypatch):
    from modal_functions.storage.local import LocalStore, unavailable

    def down(self, *a, **kw):
        raise unavailable("local store write failed: No space left on device")

    monkeypatch.setattr(LocalStore, "put_file", down)
    f = tmp_path / "frame.png"
    f.write_bytes(b"x")
    status, err, _ = run(capsys, "artifacts", "put", str(f))
    assert status == 1 and err == ["canvascast artifacts: error [storage_unavailable]: local store write failed: No space left on device"]
