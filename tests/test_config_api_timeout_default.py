"""`[functions.api]` without `timeout` gets Modal's web limit, as a missing table does.

The functions' default timeout (300 s) is above what the front door may have (150 s, where
Modal cuts web requests), so a `[functions.api]` table setting only, say, `min_containers`
was refused at load ("timeout at most 150 s") although it never named a timeout, while no
table at all got 150 s.
"""

from modal_functions.config import WEB_TIMEOUT_S, default_path, load_config
from modal_functions.modal_layer.settings_from_toml import object_kwargs


def test_an_api_table_without_timeout_gets_the_web_timeout(tmp_path):
    text = default_path().read_text()
    assert "[functions.api]\ncpu = 1.0\nmemory = 1024\ntimeout = 150\n" in text
    p = tmp_path / "modal.toml"
    p.write_text(text.replace("[functions.api]\ncpu = 1.0\nmemory = 1024\ntimeout = 150\n", "[functions.api]\ncpu = 1.0\nmemory = 1024\n"))
    cfg = load_config(p)
    assert cfg.functions["api"].timeout == WEB_TIMEOUT_S
    assert object_kwargs(cfg, "api")["timeout"] == WEB_TIMEOUT_S
    assert cfg.functions["diagnostic"].timeout == 60  # other tables keep their own


def test_an_api_table_without_timeout_still_checks_stall_timeout_against_it(tmp_path):
    import pytest

    from modal_functions.config import ConfigError

    text = default_path().read_text().replace("timeout = 150\nretries = 0\n", "stall_timeout = 200\nretries = 0\n")
    p = tmp_path / "modal.toml"
    p.write_text(text)
    with pytest.raises(ConfigError, match="stall_timeout"):
        load_config(p)
