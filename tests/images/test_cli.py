"""`canvascast images`: the command writes one file per prompt and says when it is degraded."""

from __future__ import annotations

import io
import json

from fake_genai_server import prompt_blocked
from PIL import Image

from modal_functions.cli import main


def test_without_a_key_writes_placeholders_and_says_so(env, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["images", "--prompt", "a lighthouse at dawn", "a fox", "--aspect", "9:16", "-o", str(out)]) == 0
    files = sorted(p.name for p in out.glob("*.png"))
    assert files == ["00-a-lighthouse-at-dawn.png", "01-a-fox.png"]
    with Image.open(out / files[0]) as im:
        assert im.size == (720, 1280)
    result = json.loads((out / "images.json").read_text())
    assert result["degraded"] is True and result["placeholders"] == 2
    captured = capsys.readouterr()
    assert "DEGRADED" in captured.err and "0 ok, 2 placeholder, 0 failed" in captured.out


def test_with_the_provider_writes_images_and_fails_only_when_none_made_it(env, fake, tmp_path, capsys):
    env.setenv("GEMINI_API_KEY", "test-key")
    env.setenv("IMAGE_API_BASE_URL", fake.url)
    fake.when("BLOCKED", prompt_blocked())
    out = tmp_path / "out"
    assert main(["images", "-p", "a red fox", "-p", "BLOCKED", "--aspect", "1:1", "-o", str(out)]) == 0
    (png,) = out.glob("*.png")
    with Image.open(io.BytesIO(png.read_bytes())) as im:
        assert im.size == (48, 48)  # the fake's 1:1 image
    assert "[safety_block]" in capsys.readouterr().out
    assert main(["images", "-p", "BLOCKED again", "-o", str(tmp_path / "none")]) == 1


def test_a_bad_value_is_one_line_with_a_code(env, tmp_path, capsys):
    status = main(["images", "-p", "a fox", "--palette", "red", "-o", str(tmp_path / "out")])
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert status == 2 and err == ["canvascast images: error [invalid_value]: style.palette.0: String should match pattern '^#[0-9a-fA-F]{6}$'"]
    assert not (tmp_path / "out").exists()
