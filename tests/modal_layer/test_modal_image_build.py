"""What `modal deploy` would build and hand each container, read back from the built app offline.

The images are inspected layer by layer (the Dockerfile lines Modal's image builder
generates, for both the 2025.06 builder, Debian bookworm, and 2026.10, trixie); the
functions' environment and Secrets are read from the built objects. These are the
things that fail only on a real deploy or at a container's first job: an apt step that
waits for a time-zone answer, a render image without the fonts the composition names,
a browser of another major version than in-house, a Secret missing a key, a front door
whose data dir is the read-only Volume.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from modal_functions.modal_layer import image
from modal_functions.modal_layer.built import (
    apt_packages,
    app_objects,
    function_env,
    image_layers,
    read_settings,
    secret_required_keys,
)
from modal_functions.modal_layer.weights import link_models

ROOT = Path(__file__).resolve().parents[2]
BUILDERS = ("2025.06", "2026.10")
IMAGES = {name: getattr(image, name) for name in ("cpu_image", "whisper_image", "whisper_cpu_image", "render_image")}


@pytest.fixture(scope="module")
def app_module():
    import modal_functions.modal_layer.app as module

    return module


def _noninteractive_apt_steps(img, builder: str) -> list[tuple[str, bool]]:
    """(apt-get install line, whether debconf cannot prompt there) for every install step of ours.

    The base layer (`FROM <tag>`: Modal's debian_slim recipe or the registry image) is not ours.
    """
    out = []
    quiet = False
    for layer in image_layers(img, builder):
        ours = bool(layer["commands"]) and layer["commands"][0] == "FROM base"
        for command in layer["commands"]:
            if "debconf/frontend select Noninteractive" in command or re.search(r"\bENV DEBIAN_FRONTEND=noninteractive\b", command):
                quiet = True
            if ours and "apt-get install" in command:
                here = quiet or layer["build_env"].get("DEBIAN_FRONTEND") == "noninteractive" or "DEBIAN_FRONTEND=noninteractive" in command
                out.append((command, here))
    return out


@pytest.mark.parametrize("builder", BUILDERS)
@pytest.mark.parametrize("name", sorted(IMAGES))
def test_no_apt_step_can_wait_for_an_answer(name, builder):
    """ffmpeg pulls tzdata, which asks for a time zone on Ubuntu (the CUDA base) unless debconf is non-interactive."""
    steps = _noninteractive_apt_steps(IMAGES[name], builder)
    assert steps, name
    assert [command for command, quiet in steps if not quiet] == [], name


def _makefile_fonts() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    packages = re.search(r"^APT_PKGS\s*:=\s*(.+)$", text, re.M).group(1).split()
    return {p for p in packages if p.startswith("fonts-")}


def test_render_image_has_the_fonts_in_house_renders_with():
    """Inter in the bundle is Latin only; other glyphs come from 'DejaVu Sans' (named) and wqy (CJK)."""
    fonts_ts = (ROOT / "modal_functions" / "render" / "remotion" / "src" / "fonts.ts").read_text()
    assert "'DejaVu Sans'" in fonts_ts  # the composition's named fallback
    for builder in BUILDERS:
        packages = set(apt_packages(image.render_image, builder))
        assert "fonts-dejavu-core" in packages
        assert _makefile_fonts() <= packages, _makefile_fonts() - packages
    assert {"fonts-dejavu-core", "fonts-wqy-microhei"} <= set(apt_packages(image.cpu_image))  # the placeholder's


def test_render_image_fails_to_build_with_another_chromium_major():
    commands = [c for layer in image_layers(image.render_image) for c in layer["commands"]]
    install = next(i for i, c in enumerate(commands) if "apt-get install" in c and "chromium" in c.split())
    check = next(i for i, c in enumerate(commands) if "chromium --version" in c)
    assert check > install
    assert f"'^Chromium {image.CHROMIUM_MAJOR}\\.'" in commands[check] and "exit 1" in commands[check]


@pytest.mark.skipif(shutil.which("chromium") is None, reason="no local chromium to compare with")
def test_render_image_chromium_major_is_the_local_one():
    out = subprocess.run(["chromium", "--version"], capture_output=True, text=True, timeout=60).stdout
    local = re.search(r"Chromium (\d+)\.", out).group(1)
    assert image.CHROMIUM_MAJOR == local, f"local chromium is {local}; set CHROMIUM_MAJOR in modal_layer/image.py"


@pytest.mark.skipif(shutil.which("node") is None, reason="no local node to compare with")
def test_render_image_node_major_is_the_local_one():
    local = subprocess.run(["node", "--version"], capture_output=True, text=True, timeout=60).stdout.strip()
    assert local.startswith(f"v{image.NODE_MAJOR}."), local


def test_render_image_bundles_remotion_at_build_time():
    commands = [c for layer in image_layers(image.render_image) for c in layer["commands"]]
    text = "\n".join(commands)
    assert "npm ci" in text and f"node scripts/bundle.mjs {image.REMOTION_BUNDLE}" in text
    assert f"ENV REMOTION_BUNDLE_DIR={image.REMOTION_BUNDLE}" in text


def test_front_door_data_dir_is_writable_not_the_read_only_volume(app_module):
    """Uploads are spooled under the data dir: on the read-only Volume every POST /v1/artifacts would fail."""
    settings = read_settings(app_module.api)
    data_dir = Path(function_env(app_module.api)["CANVASCAST_DATA_DIR"])
    assert settings["read_only_volumes"] == ["/cache"]
    for mount in settings["read_only_volumes"]:
        assert not data_dir.is_relative_to(mount), data_dir


def test_front_door_sees_the_volume_models_through_its_data_dir(tmp_path):
    from modal_functions.align.engines import installed_ct2_dir

    volume = tmp_path / "cache"
    (volume / "models" / "ct2-large-v3").mkdir(parents=True)
    (volume / "models" / "ct2-large-v3" / "model.bin").write_bytes(b"\0")
    data = tmp_path / "srv" / "canvascast"
    link_models(data, volume)
    link_models(data, volume)  # a second container start (same disk) is fine
    assert installed_ct2_dir("large-v3", data) is not None
    assert installed_ct2_dir("medium.en", data) is None
    (data / "uploads").mkdir()  # the upload spool is on the container's disk, not on the Volume
    assert not (volume / "uploads").exists()


def _docs_required_keys() -> set[str]:
    """Keys of docs/modal.md's Secret table marked `yes`."""
    keys: set[str] = set()
    for line in (ROOT / "docs" / "modal.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[1] == "yes":
            keys |= set(re.findall(r"`([A-Z][A-Z0-9_]+)`", cells[0]))
    return keys


def test_secret_requires_the_keys_the_docs_call_required(app_module):
    want = _docs_required_keys()
    assert {"COMPUTE_TOKEN", "ARTIFACT_SIGNING_SECRET", "SUPABASE_URL", "SUPABASE_SERVICE_ROLE_KEY"} <= want
    for name, obj in app_objects(app_module).items():
        required = secret_required_keys(obj)
        if name == "diagnostic":
            assert required == {}
            continue
        assert set(required) == {app_module.CONFIG.app.secret}, name
        assert set(required[app_module.CONFIG.app.secret]) == want, name
