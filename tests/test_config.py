"""modal.toml is validated at load: typos fail loudly."""

import pytest

from modal_functions.config import ConfigError, load_config, default_path


def test_repo_modal_toml_loads():
    cfg = load_config(default_path())
    assert cfg.functions["transcribe_audio"].gpu == "A10G"
    assert cfg.pool("diagnostic").workers >= 1


def test_unknown_key_is_an_error(tmp_path):
    text = default_path().read_text().replace("[functions.diagnostic]\n", "[functions.diagnostic]\nmin_contaners = 1\n")
    p = tmp_path / "modal.toml"
    p.write_text(text)
    with pytest.raises(ConfigError, match="min_contaners"):
        load_config(p)


def test_unknown_function_is_an_error(tmp_path):
    p = tmp_path / "modal.toml"
    p.write_text(default_path().read_text() + "\n[functions.transcode]\ncpu = 1.0\n")
    with pytest.raises(ConfigError, match="transcode"):
        load_config(p)


def test_cost_uses_price_table():
    cfg = load_config(default_path())
    gpu = cfg.usd("transcribe_audio", 100, backend="modal")
    cpu_only = cfg.usd("transcribe_audio", 100, backend="modal", gpu="")
    assert gpu > cpu_only > 0
    assert cfg.usd("transcribe_audio", 100, backend="inhouse") == 0.0


@pytest.mark.parametrize(
    "old,new,match",
    [
        ("A10G = 0.000306\n", "", "no price for \\['A10G'\\]"),  # else GPU seconds are billed as CPU only
        ("timeout = 150\nretries = 0", "timeout = 150\nretries = 3", "web endpoint"),
        ("timeout = 150\n", "timeout = 3600\n", "web endpoint"),
        ("stall_timeout = 5\n", "stall_timeout = 600\n", "stall_timeout .* below timeout"),
    ],
)
def test_values_that_cannot_work_are_refused_at_load(tmp_path, old, new, match):
    text = default_path().read_text()
    assert old in text
    p = tmp_path / "modal.toml"
    p.write_text(text.replace(old, new, 1))
    with pytest.raises(ConfigError, match=match):
        load_config(p)
