"""The `canvascast` command line: every failure is one stderr line with a code and an exit status."""

from __future__ import annotations

import json

import pytest

from modal_functions.cli import main


def run(capsys, *argv: str) -> tuple[int, list[str]]:
    status = main(list(argv))
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    return status, err


def test_a_missing_script_file_is_one_line_exit_2(capsys, tmp_path):
    status, err = run(capsys, "align", str(tmp_path / "nope.wav"), "--script-file", str(tmp_path / "nope.txt"), "--json")
    assert status == 2 and len(err) == 1
    assert err[0].startswith("canvascast align: error [FileNotFoundError]") and "nope.txt" in err[0]


def test_a_timeline_that_is_not_an_object_is_refused(capsys, tmp_path):
    (tmp_path / "list.json").write_text(json.dumps([1, 2]))
    status, err = run(capsys, "render", str(tmp_path / "list.json"), "-o", str(tmp_path / "x.mp4"))
    assert status == 2 and err == [f"canvascast render: error [bad_timeline]: {tmp_path / 'list.json'}: expected a JSON object"]


def test_an_output_path_that_cannot_be_written_is_refused_before_rendering(capsys, tmp_path):
    (tmp_path / "a.png").write_bytes(b"")
    timeline = {"resolution": 360, "fps": 24, "durationMs": 1000, "titleMs": 0, "scenes": [{"image": "a.png", "startMs": 0, "endMs": 1000}]}
    (tmp_path / "t.json").write_text(json.dumps(timeline))
    (tmp_path / "afile").write_text("a file, not a folder")
    status, err = run(capsys, "render", str(tmp_path / "t.json"), "-o", str(tmp_path / "afile" / "x.mp4"), "-q")
    assert status == 2 and len(err) == 1 and err[0].startswith("canvascast render: error [bad_output]")


def test_serve_refuses_a_port_outside_tcp(capsys):
    with pytest.raises(SystemExit) as e:
        main(["serve", "--port", "70000"])
    assert e.value.code == 2 and "not a TCP port" in capsys.readouterr().err


def test_an_unexpected_error_is_one_line_unless_debugging(capsys, monkeypatch):
    import modal_functions.cli as cli

    parser = cli.build_parser()

    def boom(args):
        raise RuntimeError("something broke")

    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    args_ns = parser.parse_args(["types"])
    monkeypatch.setattr(parser, "parse_args", lambda argv=None: type(args_ns)(**{**vars(args_ns), "func": boom}))
    status, err = run(capsys, "types")
    assert status == 1 and err == ["canvascast types: error [internal]: RuntimeError: something broke (CANVASCAST_DEBUG=1 for a traceback)"]
    monkeypatch.setenv("CANVASCAST_DEBUG", "1")
    with pytest.raises(RuntimeError):
        main(["types"])


def test_a_dotenv_sets_every_variable_for_the_process_but_the_environment_wins(tmp_path, monkeypatch):
    import os

    import modal_functions.cli as cli

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("COMPUTE_KINDS", raising=False)  # restored to absent afterwards
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")
    (tmp_path / ".env").write_text("COMPUTE_KINDS=diagnostic\nLOG_LEVEL=WARNING\n")
    cli.load_dotenv()
    assert os.environ["COMPUTE_KINDS"] == "diagnostic"  # not a Settings field: was ignored before
    assert os.environ["LOG_LEVEL"] == "DEBUG"
