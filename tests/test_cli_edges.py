"""`canvascast` at its edges: a broken .env, bad environment values, outputs that would
overwrite inputs, odd timelines and paths, signals and a closed stdout. Each is one stderr
line and an exit status, never a traceback or a silently wrong file."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from modal_functions.cli import main
from modal_functions.settings import Settings, get_settings

CLI = [sys.executable, "-m", "modal_functions.cli"]


@pytest.fixture
def env(monkeypatch, tmp_path):
    monkeypatch.setenv("CANVASCAST_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ARTIFACT_STORE", "local")
    for name in ("LOG_LEVEL", "COMPUTE_PORT", "ARTIFACT_SIGNING_SECRET", "CANVASCAST_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def cli(tmp_path, *argv, env=None, **kwargs) -> subprocess.CompletedProcess:
    """The real command in a child process, run in `tmp_path` (so its .env is the one read)."""
    environ = {k: v for k, v in os.environ.items() if k not in ("LOG_LEVEL", "COMPUTE_PORT", "CANVASCAST_DEBUG")}
    environ.update({"CANVASCAST_DATA_DIR": str(tmp_path / "data"), "ARTIFACT_STORE": "local", **(env or {})})
    return subprocess.run([*CLI, *argv], cwd=tmp_path, env=environ, capture_output=True, text=True, timeout=120, **kwargs)


def err_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def write_timeline(folder: Path, image: str = "a.png", name: str = "t.json") -> Path:
    timeline = {"resolution": 360, "fps": 24, "durationMs": 500, "titleMs": 0,
                "scenes": [{"image": image, "startMs": 0, "endMs": 500}]}
    (folder / name).write_text(json.dumps(timeline))
    return folder / name


def write_png(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (64, 36), (200, 80, 40)).save(path)
    return path


# ## Environment and configuration


def test_a_dotenv_that_is_not_utf8_is_one_line_and_help_still_works(tmp_path):
    (tmp_path / ".env").write_bytes(b"A=\xff\xfe\n")
    done = cli(tmp_path, "render", "t.json", "-o", "x.mp4")
    assert done.returncode == 2 and err_lines(done.stderr) == [
        "canvascast render: error [bad_encoding]: .env: not UTF-8 text (invalid start byte at byte 2)"]
    helped = cli(tmp_path, "--help")
    assert helped.returncode == 0 and "usage: canvascast" in helped.stdout and helped.stderr == ""


def test_bad_log_level_and_port_from_the_environment_are_config_errors(tmp_path):
    done = cli(tmp_path, "serve", env={"LOG_LEVEL": "bogus"})
    assert done.returncode == 2 and err_lines(done.stderr) == [
        "canvascast serve: error [config]: LOG_LEVEL='BOGUS' is not one of DEBUG, INFO, WARNING, ERROR, CRITICAL"]
    done = cli(tmp_path, "serve", env={"COMPUTE_PORT": "70000"})
    assert done.returncode == 2 and err_lines(done.stderr) == [
        "canvascast serve: error [config]: COMPUTE_PORT: Input should be less than or equal to 65535"]


@pytest.mark.parametrize("make", [
    lambda p: p.write_bytes(os.urandom(4096)),  # not a database
    lambda p: p.mkdir(),                        # a folder in its place
], ids=["corrupt", "folder"])
def test_serve_refuses_a_broken_job_registry_in_one_line(tmp_path, make):
    (tmp_path / "data").mkdir()
    make(tmp_path / "data" / "jobs.sqlite3")
    done = cli(tmp_path, "serve", "--port", "18361")
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines()[-1].startswith("canvascast serve: error [bad_registry]: ")


def test_a_healthy_registry_passes_the_startup_check(tmp_path):
    from modal_functions.api.commands import _startup_problem

    (tmp_path / "data").mkdir()
    sqlite3.connect(tmp_path / "data" / "jobs.sqlite3").close()
    settings = Settings(CANVASCAST_DATA_DIR=tmp_path / "data")
    assert _startup_problem(settings, None) is None


def test_supabase_without_credentials_and_an_empty_secret_file_are_config_errors(env, tmp_path, capsys):
    (tmp_path / "f.txt").write_text("hi")
    env.setenv("ARTIFACT_STORE", "supabase")
    env.delenv("SUPABASE_URL", raising=False)
    env.delenv("SUPABASE_SERVICE_ROLE_KEY", raising=False)
    assert main(["artifacts", "put", str(tmp_path / "f.txt")]) == 2
    assert capsys.readouterr().err.startswith("canvascast artifacts: error [config]: ARTIFACT_STORE=supabase needs SUPABASE_URL")

    from modal_functions.storage.signing import SECRET_FILE

    env.setenv("ARTIFACT_STORE", "local")
    get_settings.cache_clear()
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / SECRET_FILE).write_text("")
    assert main(["artifacts", "put", str(tmp_path / "f.txt")]) == 2
    assert "error [config]: signing secret file" in capsys.readouterr().err


def test_an_empty_data_dir_variable_means_the_default(env):
    env.setenv("CANVASCAST_DATA_DIR", "")
    assert Settings().data_dir == Path(".canvascast")


# ## render: inputs and outputs


@pytest.mark.parametrize("output", ["t.json", "a.png", "sub/../a.png"])
def test_render_refuses_to_overwrite_its_own_inputs(env, tmp_path, capsys, output):
    write_png(tmp_path / "a.png")
    (tmp_path / "sub").mkdir()
    timeline = write_timeline(tmp_path)
    before = timeline.read_bytes(), (tmp_path / "a.png").read_bytes()
    assert main(["render", str(timeline), "-o", str(tmp_path / output), "-q"]) == 2
    err = err_lines(capsys.readouterr().err)
    assert len(err) == 1 and err[0].startswith("canvascast render: error [bad_output]: ") and "an input of this render" in err[0]
    assert (timeline.read_bytes(), (tmp_path / "a.png").read_bytes()) == before


def test_render_refuses_an_empty_output(env, tmp_path, capsys):
    write_png(tmp_path / "a.png")
    assert main(["render", str(write_timeline(tmp_path)), "-o", "", "-q"]) == 2
    assert err_lines(capsys.readouterr().err) == ["canvascast render: error [bad_output]: -o is empty"]


@pytest.mark.parametrize("body", [{"timeline": [1]}, {"scenes": 5}, {"timeline": "abc"}, {"scenes": [1, None]}])
def test_a_badly_shaped_timeline_is_a_validation_error(env, tmp_path, capsys, body):
    (tmp_path / "bad.json").write_text(json.dumps(body))
    assert main(["render", str(tmp_path / "bad.json"), "-o", str(tmp_path / "x.mp4"), "-q"]) == 2
    err = err_lines(capsys.readouterr().err)
    assert len(err) == 1 and err[0].startswith("canvascast render: error [invalid_timeline]: ")


def test_local_refs_under_an_artifacts_folder_are_local_when_the_file_exists(tmp_path):
    from modal_functions.render.commands import resolve_local_refs

    write_png(tmp_path / "artifacts" / "a.png")
    data = {"scenes": [{"image": "artifacts/a.png"}, {"image": "artifacts/sha256/ab/missing.png"}]}
    scenes = resolve_local_refs(data, tmp_path)["scenes"]
    assert scenes[0]["image"] == str(tmp_path / "artifacts" / "a.png")
    assert scenes[1]["image"] == "artifacts/sha256/ab/missing.png"  # still an artifact key


REMOTION_READY = False
try:
    from modal_functions.render import project

    REMOTION_READY = (shutil.which("node") is not None
                      and (project.PROJECT_DIR / "node_modules" / "@remotion" / "renderer").is_dir()
                      and Path(project.BROWSER).exists())
except Exception:  # noqa: BLE001 - whatever keeps the render stack from importing: skip
    pass


@pytest.mark.slow
@pytest.mark.skipif(not REMOTION_READY, reason="Remotion is not installed (make node) or chromium is missing")
def test_render_from_stdin_into_a_new_folder_with_assets_under_artifacts(tmp_path):
    # Three edges at once (one render is seconds): a piped timeline resolves its assets
    # against the working directory, "artifacts/a.png" is the local file, and "newdir/"
    # is a folder to create, not a file named newdir.
    write_png(tmp_path / "artifacts" / "a.png")
    timeline = write_timeline(tmp_path, image="artifacts/a.png")
    with open(timeline) as stdin:
        done = cli(tmp_path, "render", "/dev/stdin", "-o", "newdir/", "-q", stdin=stdin)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "newdir").is_dir() and (tmp_path / "newdir" / "stdin.mp4").stat().st_size > 0


# ## align, align-convert, images: paths


def test_align_names_a_folder_and_a_fifo_for_what_they_are(env, tmp_path, capsys):
    (tmp_path / "d").mkdir()
    os.mkfifo(tmp_path / "fifo")
    assert main(["align", str(tmp_path / "d"), "--json"]) == 2
    assert err_lines(capsys.readouterr().err) == [f"canvascast align: error [bad_request]: {tmp_path / 'd'} is a folder, not a file"]
    assert main(["align", str(tmp_path / "fifo"), "--json"]) == 2
    assert "is not a regular file" in capsys.readouterr().err


def test_a_local_file_under_artifacts_is_fetched_as_a_file(tmp_path):
    from modal_functions.runtime.context import LocalTaskContext

    (tmp_path / "artifacts").mkdir()
    (tmp_path / "artifacts" / "x.wav").write_bytes(b"RIFF")
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        with LocalTaskContext(allow_local_paths=True, workdir=tmp_path / "work") as ctx:
            assert ctx.fetch_input("artifacts/x.wav").read_bytes() == b"RIFF"
    finally:
        os.chdir(cwd)


def test_align_convert_into_a_folder_names_the_folder(env, tmp_path, capsys):
    (tmp_path / "d").mkdir()
    assert main(["align-convert", "--out", str(tmp_path / "d")]) == 2
    err = err_lines(capsys.readouterr().err)
    assert err == [f"canvascast align-convert: error [IsADirectoryError]: Is a directory: {tmp_path / 'd'}"]
    assert not list((tmp_path / "d").iterdir())


def test_images_checks_its_output_folder_before_generating(env, tmp_path, capsys):
    import modal_functions.images.capability as capability

    def no_generation():
        raise AssertionError("generation started before the output folder was checked")

    env.setattr(capability, "load", no_generation)
    (tmp_path / "afile").write_text("a file, not a folder")
    assert main(["images", "-p", "a fox", "-o", str(tmp_path / "afile")]) == 2
    assert err_lines(capsys.readouterr().err) == [f"canvascast images: error [FileExistsError]: File exists: {tmp_path / 'afile'}"]


# ## Signals and pipes


def test_sighup_unwinds_like_sigterm(tmp_path):
    # The command blocks reading a fifo; once our open for writing returns, it is inside the
    # command (its handlers installed), so the signal is not racing the start-up.
    os.mkfifo(tmp_path / "t.json")
    proc = subprocess.Popen([*CLI, "render", "t.json", "-o", "x.mp4", "-q"], cwd=tmp_path,
                            env={**os.environ, "CANVASCAST_DATA_DIR": str(tmp_path / "data")},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        with open(tmp_path / "t.json", "w"):
            proc.send_signal(signal.SIGHUP)
            assert proc.wait(timeout=60) == 128 + signal.SIGHUP  # sys.exit from our handler, not a kill by signal
    finally:
        proc.kill()
        proc.wait()
    assert "Traceback" not in proc.stderr.read()
    proc.stderr.close()


def test_a_closed_stdout_exits_quietly(tmp_path):
    (tmp_path / "f.txt").write_text("hi")
    proc = subprocess.Popen([*CLI, "artifacts", "put", "f.txt"], cwd=tmp_path,
                            env={**os.environ, "CANVASCAST_DATA_DIR": str(tmp_path / "data"), "ARTIFACT_STORE": "local"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdout.close()  # the reader is gone before the command writes a byte: `| head -c 0`
    err = proc.stderr.read()
    proc.stderr.close()
    assert proc.wait(timeout=60) == 141 and err == ""


def test_sighup_stops_serve_gracefully(tmp_path):
    # uvicorn's own shutdown, not a SystemExit thrown into its event loop (a logged traceback).
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMPUTE_", "LOG_LEVEL"))}
    env["CANVASCAST_DATA_DIR"] = str(tmp_path / "data")
    proc = subprocess.Popen([*CLI, "serve", "--port", "18362", "--kinds", "diagnostic", "--no-access-log"],
                            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        for line in proc.stderr:  # blocks until the next log line, or EOF if serve died
            lines.append(line)
            if "Application startup complete" in line:
                break
        assert proc.poll() is None, "".join(lines)
        proc.send_signal(signal.SIGHUP)
        rest = proc.stderr.read()
        assert proc.wait(timeout=60) == 128 + signal.SIGTERM
        assert "Traceback" not in rest and "Application shutdown complete" in rest
    finally:
        proc.kill()
        proc.wait()
        proc.stderr.close()
