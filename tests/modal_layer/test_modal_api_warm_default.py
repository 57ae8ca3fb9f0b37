"""The front door is warm by default: `[functions.api]` without `min_containers` keeps one container.

docs/modal.md (and app.py) say `api`'s `min_containers` defaults to 1, so the front door's
cold start never trips the worker's circuit breaker. That held only when modal.toml had
no `[functions.api]` table at all: a table that set, say, its memory and timeout but not
`min_containers` got the generic default 0 and a front door that scales to zero.
"""

from __future__ import annotations

import re

from modal_functions.config import default_path, load_config
from modal_functions.modal_layer.settings_from_toml import expected_settings, object_kwargs

API_TABLE = re.compile(r"\[functions\.api\]\n(?:[^\[\n][^\n]*\n)*")


def with_api_table(tmp_path, table: str):
    text = default_path().read_text()
    assert API_TABLE.search(text), "modal.toml has no [functions.api] table to replace"
    copy = tmp_path / "modal.toml"
    copy.write_text(API_TABLE.sub(lambda _m: table, text, count=1))
    return load_config(copy)


def test_an_api_table_without_min_containers_keeps_one_warm(tmp_path):
    config = with_api_table(tmp_path, "[functions.api]\nmemory = 2048\ntimeout = 150\n\n")
    assert object_kwargs(config, "api")["min_containers"] == 1
    assert object_kwargs(config, "api")["memory"] == 2048
    assert expected_settings(config)["api"]["min_containers"] == 1


def test_an_explicit_zero_is_kept(tmp_path):
    config = with_api_table(tmp_path, "[functions.api]\ntimeout = 150\nmin_containers = 0\n\n")
    assert object_kwargs(config, "api")["min_containers"] == 0


def test_no_api_table_at_all_is_warm_too(tmp_path):
    config = with_api_table(tmp_path, "")
    assert "api" not in config.functions
    assert object_kwargs(config, "api")["min_containers"] == 1
    assert object_kwargs(config, "api")["timeout"] == 150
