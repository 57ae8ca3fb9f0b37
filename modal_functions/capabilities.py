"""Registry: kind -> Capability, imported lazily so a worker only loads what it runs."""

from __future__ import annotations

import importlib
from functools import cache

from .capability import Capability
from .errors import UNKNOWN_KIND, CapabilityError

_MODULES = {
    "diagnostic": "modal_functions.diagnostic.capability",
    "generate_images": "modal_functions.images.capability",
    "transcribe_audio": "modal_functions.align.capability",
    "render_video": "modal_functions.render.capability",
}


def kinds() -> list[str]:
    return list(_MODULES)


@cache
def get_capability(kind: str) -> Capability:
    module = _MODULES.get(kind)
    if module is None:
        raise CapabilityError(UNKNOWN_KIND, f"unknown kind {kind!r}; expected one of {sorted(_MODULES)}", http_status=400)
    return importlib.import_module(module).CAPABILITY
