"""The Modal images install what pyproject.toml pins: the plain code runs unchanged in a container.

A dependency added to pyproject.toml but not to an image imports fine locally and fails
on Modal at the first job (num2words did, once).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from modal_functions.modal_layer import image

ROOT = Path(__file__).resolve().parents[2]


def _name_and_spec(requirement: str) -> tuple[str, str]:
    """`uvicorn[standard]==0.54.0` -> ("uvicorn", "==0.54.0"): extras do not matter here."""
    m = re.match(r"^([A-Za-z0-9_.-]+)(\[[^\]]*\])?(.*)$", requirement.strip())
    assert m, requirement
    return m.group(1).lower().replace("_", "-"), m.group(3).strip()


def test_every_pyproject_dependency_is_in_an_image_with_the_same_pin():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    images = dict(_name_and_spec(r) for r in image.BASE_PACKAGES + image.IMAGES_PACKAGES + image.WHISPER_PACKAGES)
    for requirement in project:
        name, spec = _name_and_spec(requirement)
        if name in image.LOCAL_ONLY_PACKAGES:
            continue
        assert name in images, f"{name} is a dependency in pyproject.toml but no Modal image installs it"
        assert images[name] == spec, f"{name}: pyproject.toml pins {spec!r}, the Modal image {images[name]!r}"
