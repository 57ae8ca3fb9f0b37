"""`canvascast align AUDIO --json` prints {"words":[{"word","start","end"}]} in seconds."""

import json

import pytest

from modal_functions.align import commands
from modal_functions.cli import main


def test_json_words_in_seconds(state, monkeypatch, capsys, tmp_path, joined_clip, data_dir):
    from modal_functions.settings import get_settings

    monkeypatch.setenv("CANVASCAST_DATA_DIR", str(data_dir))  # the CLI's store writes SRT/VTT there
    get_settings.cache_clear()
    monkeypatch.setattr("modal_functions.align.pipeline.AlignerState", lambda: state)  # reuse the warm models
    script = tmp_path / "script.txt"
    script.write_text("\ufeff" + joined_clip.script)  # saved with a byte-order mark, as Windows editors do
    assert main(["align", str(joined_clip.path), "--script-file", str(script), "--json"]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert list(out) == ["words"]
    assert json.loads(captured.err) == {"match_rate": 1.0, "flagged": False}  # the script's fit, beside stdout
    assert [w["word"] for w in out["words"]] == joined_clip.script.split()
    for w, (_, start, end) in zip(out["words"], joined_clip.words):
        assert set(w) == {"word", "start", "end"}
        assert isinstance(w["start"], float) and w["start"] < w["end"]
        assert abs(w["start"] - start) < 0.2  # seconds, not milliseconds


@pytest.fixture(autouse=True)
def _fresh_settings():
    from modal_functions.settings import get_settings

    get_settings.cache_clear()
    yield
    get_settings.cache_clear()  # do not leak this test's data dir to later tests


def test_bad_audio_exits_2_with_the_code(capsys, tmp_path):
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    assert main(["align", str(path), "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith("canvascast align: error [bad_audio]: ")
    assert len(captured.err.splitlines()) == 1


def test_registers_both_commands():
    assert callable(commands.cmd_align) and callable(commands.cmd_convert)
