"""`render_chunk` may have a `[functions.render_chunk]` table of its own.

The chunk containers were configured by `[functions.render_video]` only: `modal.toml`
refused a `[functions.render_chunk]` table (an unknown function), so the chunk pool (how
many containers, how big, how long they stay warm) could not be sized apart from the
render containers that wait on them. A table of its own is now read for `render_chunk`
(its scaling, resources and timeout), `[functions.render_video]`'s when there is none;
keys that cannot apply to a chunk (`retries`: the fan-out retries a chunk itself; the
watchdog and Whisper keys) are refused at load, not silently ignored.
"""

from __future__ import annotations

import pytest

from modal_functions.config import ConfigError, default_path, load_config
from modal_functions.modal_layer.chunks import remote_for_render
from modal_functions.modal_layer.settings_from_toml import expected_settings, object_kwargs

TABLE = "\n[functions.render_chunk]\ncpu = 4.0\nmemory = 4096\ntimeout = 900\nmax_containers = 40\nscaledown_window = 30\n"


def _without_chunk_table(text: str) -> str:
    start = text.find("[functions.render_chunk]")
    if start < 0:
        return text
    end = text.find("\n[", start + 1)
    return text[:start] + text[end + 1:]


def _load(tmp_path, extra: str = "", *, drop: bool = True):
    text = default_path().read_text()
    p = tmp_path / "modal.toml"
    p.write_text((_without_chunk_table(text) if drop else text) + extra)
    return load_config(p)


def test_a_render_chunk_table_configures_the_chunk_containers(tmp_path):
    config = _load(tmp_path, TABLE)
    kw = object_kwargs(config, "render_chunk")
    assert (kw["cpu"], kw["memory"], kw["timeout"], kw["max_containers"], kw["scaledown_window"]) == (4.0, 4096, 900, 40, 30)
    assert kw["retries"] == 0  # the fan-out retries a chunk itself
    assert object_kwargs(config, "render_video")["cpu"] == config.function("render_video").cpu  # untouched
    assert expected_settings(config)["render_chunk"]["max_containers"] == 40
    assert remote_for_render(config, {}).free_workers == 40  # the chunk pool a render plans for


def test_without_one_render_chunk_takes_render_video_s(tmp_path):
    config = _load(tmp_path)
    chunk, render = object_kwargs(config, "render_chunk"), object_kwargs(config, "render_video")
    assert {**chunk, "retries": render["retries"]} == render and chunk["retries"] == 0


def test_the_chunk_table_is_not_a_kind(tmp_path):
    config = _load(tmp_path, TABLE)
    from modal_functions.modal_layer.fake_primitives import fake_backend

    backend = fake_backend(tmp_path / "modal", config)
    try:
        assert "render_chunk" not in backend.capacity()
        assert backend.capacity()["render_video"].workers == config.function("render_video").max_containers
    finally:
        backend.close()


@pytest.mark.parametrize("key", ["retries = 1", "stall_timeout = 60", "gpu_min_audio_seconds = 10", "cpu_fallback_cpu = 2.0"])
def test_keys_that_cannot_apply_to_a_chunk_are_refused(tmp_path, key):
    with pytest.raises(ConfigError, match=key.split(" ")[0]):
        _load(tmp_path, TABLE + key + "\n")


def test_render_chunk_is_no_in_house_pool(tmp_path):
    with pytest.raises(ConfigError, match="render_chunk"):
        _load(tmp_path, "\n[inhouse.render_chunk]\nworkers = 1\n")


def test_modal_toml_sizes_the_chunk_pool_itself():
    config = load_config(default_path())
    assert "render_chunk" in config.functions
    assert object_kwargs(config, "render_chunk")["max_containers"] == config.functions["render_chunk"].max_containers
