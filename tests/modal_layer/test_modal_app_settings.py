"""The app builds without a token, and every built Modal object carries modal.toml's values.

Settings are read back from the *built* objects (FunctionInfo + the autoscaler settings
their loader would send to Modal), never from the TOML again; the TOML is only the
expectation.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import modal
import pytest

from modal_functions.config import default_path
from modal_functions.modal_layer.built import all_settings, read_settings

REPO = Path(__file__).resolve().parents[2]
RESOURCE_KEYS = ("gpu", "cpu", "memory", "timeout", "retries")
SCALING_KEYS = ("min_containers", "max_containers", "buffer_containers", "scaledown_window")
# Modal object -> the [functions.<table>] it is configured by
TABLE_OF = {
    "api": "api",
    "generate_images": "generate_images",
    "Transcriber": "transcribe_audio",
    "TranscriberCPU": "transcribe_audio",
    "render_video": "render_video",
    "render_chunk": "render_chunk",  # [functions.render_video] when modal.toml has no such table
    "diagnostic": "diagnostic",
}

BUILD_AND_DUMP = """
import json
import warnings
import modal.exception
warnings.simplefilter("error", modal.exception.DeprecationError)  # legacy Modal names fail the build
import modal_functions.modal_layer.app as a
from modal_functions.modal_layer.built import all_settings
print(json.dumps({"app": a.app.name, "settings": all_settings(a)}))
"""


@pytest.fixture(scope="module")
def app_module():
    import modal_functions.modal_layer.app as module

    return module


def expected_from_toml(raw: dict, name: str) -> dict:
    table = raw["functions"].get(TABLE_OF[name]) or raw["functions"]["render_video" if name == "render_chunk" else TABLE_OF[name]]
    want = {
        "gpu": table.get("gpu"),
        "cpu": table.get("cpu", 1.0),
        "memory": table.get("memory", 1024),
        "timeout": table.get("timeout", 300),
        "retries": table.get("retries", 0),
        **{key: table.get(key, {"min_containers": 0, "max_containers": 10, "buffer_containers": 0, "scaledown_window": 60}[key]) for key in SCALING_KEYS},
    }
    if name == "TranscriberCPU":  # the CPU twin: no GPU, cpu_fallback_cpu cores
        want["gpu"] = None
        want["cpu"] = table.get("cpu_fallback_cpu", want["cpu"])
    if name == "render_chunk":  # the fan-out retries a failed chunk alone itself: no Modal retries on top
        want["retries"] = 0
    return want


def build_in_subprocess(toml_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "CANVASCAST_MODAL_TOML": str(toml_path)}
    return subprocess.run([sys.executable, "-c", BUILD_AND_DUMP], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


def test_app_builds_offline_with_the_name_from_modal_toml(app_module):
    raw = tomllib.loads(default_path().read_text())
    assert isinstance(app_module.app, modal.App)
    assert app_module.app.name == raw["app"]["name"]


def test_every_built_object_matches_modal_toml(app_module):
    raw = tomllib.loads(default_path().read_text())
    built = all_settings(app_module)
    assert set(built) == set(TABLE_OF)
    for name, settings in built.items():
        got = {key: settings[key] for key in RESOURCE_KEYS + SCALING_KEYS}
        assert got == expected_from_toml(raw, name), name


def test_front_door_is_a_warm_asgi_function(app_module):
    api = read_settings(app_module.api)
    assert api["web"] is True
    assert api["min_containers"] >= 1
    assert api["timeout"] <= 150  # Modal answers web requests within 150 s anyway


def test_whisper_runs_on_gpu_and_its_twin_on_cpu(app_module):
    gpu, cpu = read_settings(app_module.Transcriber), read_settings(app_module.TranscriberCPU)
    assert gpu["gpu"] and cpu["gpu"] is None
    assert cpu["cpu"] >= gpu["cpu"]


def test_volume_only_where_weights_or_chunks_live(app_module):
    built = all_settings(app_module)
    with_volume = {name for name, s in built.items() if s["volumes"]}
    assert with_volume == {"api", "Transcriber", "TranscriberCPU", "render_video", "render_chunk"}
    assert all(s["volumes"] == ["/cache"] for name, s in built.items() if name in with_volume)
    assert [name for name, s in built.items() if s["read_only_volumes"]] == ["api"]  # the front door only reads
    for name, s in built.items():
        if name != "diagnostic":
            assert any("canvascast-secrets" in secret for secret in s["secrets"]), name


def test_lease_reconciler_is_a_period_job(app_module):
    assert app_module.reconcile_leases.info().schedule == "Period(minutes=1)"


def test_a_changed_value_in_a_copy_of_modal_toml_changes_the_built_function(tmp_path):
    text = default_path().read_text()
    text = text.replace("[functions.render_video]\ncpu = 8.0", "[functions.render_video]\ncpu = 16.0")
    text = text.replace("[functions.render_chunk]\ncpu = 8.0", "[functions.render_chunk]\ncpu = 4.0")
    text = text.replace('[functions.diagnostic]\ncpu = 0.25\nmemory = 256\ntimeout = 60\nretries = 2\nstall_timeout = 5\nmin_containers = 0\nmax_containers = 4',
                        '[functions.diagnostic]\ncpu = 0.25\nmemory = 256\ntimeout = 45\nretries = 2\nstall_timeout = 5\nmin_containers = 0\nmax_containers = 7')
    text = text.replace('gpu = "A10G"', 'gpu = "L4"').replace('name = "canvascast"', 'name = "canvascast-staging"')
    copy = tmp_path / "modal.toml"
    copy.write_text(text)
    assert text != default_path().read_text()

    done = build_in_subprocess(copy)
    assert done.returncode == 0, done.stderr
    built = json.loads(done.stdout.strip().splitlines()[-1])
    assert built["app"] == "canvascast-staging"
    s = built["settings"]
    assert s["render_video"]["cpu"] == 16.0 and s["render_chunk"]["cpu"] == 4.0
    assert s["diagnostic"]["max_containers"] == 7 and s["diagnostic"]["timeout"] == 45
    assert s["Transcriber"]["gpu"] == "L4"
    assert s["TranscriberCPU"]["gpu"] is None


def test_an_unknown_key_fails_the_build(tmp_path):
    copy = tmp_path / "modal.toml"
    copy.write_text(default_path().read_text().replace("[functions.render_video]\n", "[functions.render_video]\nmin_contaners = 1\n"))
    done = build_in_subprocess(copy)
    assert done.returncode != 0
    assert "min_contaners" in done.stderr
