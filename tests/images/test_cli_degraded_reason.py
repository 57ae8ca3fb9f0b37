"""`canvascast images` says why its placeholders are placeholders.

With a key configured and IMAGE_FALLBACK=placeholder, a prompt the provider refused
becomes a placeholder. The DEGRADED line used to tell the user to "set GEMINI_API_KEY",
which they had: it must name what went wrong instead.
"""

from __future__ import annotations

from fake_genai_server import error

from modal_functions.cli import main


def degraded_line(err: str) -> str:
    (line,) = [line for line in err.splitlines() if line.startswith("DEGRADED")]
    return line


def test_a_failed_provider_is_not_blamed_on_a_missing_key(env, fake, tmp_path, capsys):
    env.setenv("GEMINI_API_KEY", "test-key")
    env.setenv("IMAGE_API_BASE_URL", fake.url)
    env.setenv("IMAGE_FALLBACK", "placeholder")
    fake.push(error(400, "bad prompt"))
    assert main(["images", "-p", "a fox", "-o", str(tmp_path / "out")]) == 0

    line = degraded_line(capsys.readouterr().err)
    assert "GEMINI_API_KEY" not in line
    assert "upstream_bad_request" in line


def test_without_a_key_it_still_says_to_set_one(env, tmp_path, capsys):
    assert main(["images", "-p", "a fox", "-o", str(tmp_path / "out")]) == 0
    assert "set GEMINI_API_KEY" in degraded_line(capsys.readouterr().err)
