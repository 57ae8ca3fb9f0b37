"""The Modal front door's sync wait ends before Modal cuts the request (`[functions.api] timeout`)."""

from __future__ import annotations

import pytest

from modal_functions.config import load_config
from modal_functions.modal_layer.settings_from_toml import SYNC_WAIT_MARGIN_S, front_door_settings
from modal_functions.settings import Settings, get_settings


def _config(api_timeout: int):
    config = load_config()
    api = config.functions["api"].model_copy(update={"timeout": api_timeout})
    return config.model_copy(update={"functions": {**config.functions, "api": api}})


def test_a_wait_under_the_timeout_is_kept_as_it_is(tmp_path):
    s = Settings(_env_file=None, CANVASCAST_DATA_DIR=str(tmp_path))
    assert front_door_settings(s, _config(150)) is s  # 120 s < 150 - 10


@pytest.mark.parametrize(("configured", "timeout", "used"), [(3600, 150, 140.0), (140.5, 150, 140.0), (120, 60, 50.0), (5, 8, 0.0), (590, 600, 140.0)])
def test_a_longer_wait_is_shortened_to_end_before_the_timeout(tmp_path, configured, timeout, used):
    s = Settings(_env_file=None, CANVASCAST_DATA_DIR=str(tmp_path), COMPUTE_SYNC_WAIT_S=str(configured))
    out = front_door_settings(s, _config(timeout))
    assert out.sync_wait_s == used == max(0.0, min(timeout, 150) - SYNC_WAIT_MARGIN_S)
    assert s.sync_wait_s == configured  # the caller's settings are not changed


@pytest.mark.filterwarnings("ignore:The api function is executing locally")
def test_the_front_door_serves_with_the_shortened_wait(tmp_path, monkeypatch):
    import modal_functions.modal_layer.app as modal_app

    monkeypatch.setenv("CANVASCAST_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("COMPUTE_SYNC_WAIT_S", "600")
    monkeypatch.setenv("COMPUTE_TOKEN", "t")
    get_settings.cache_clear()
    try:
        app = modal_app.api.local()
        assert app.state.settings.sync_wait_s == modal_app.CONFIG.functions["api"].timeout - SYNC_WAIT_MARGIN_S
    finally:
        get_settings.cache_clear()
