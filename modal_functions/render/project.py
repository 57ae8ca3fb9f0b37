"""Where the Remotion project, its bundle, Node and the browser are.

The project lives in `modal_functions/render/remotion/` (package.json with every
remotion package pinned to exactly 4.0.529, committed package-lock.json; `npm ci`
there, which `make node` does). The bundle is built once per source version with
`node scripts/bundle.mjs` and reused by every sidecar:

- `REMOTION_BUNDLE_DIR`: a pre-built bundle (the Modal image bakes one in);
- otherwise `<CANVASCAST_DATA_DIR>/render/bundle-<hash of src + lockfile>/`, built on
  first use under a file lock, so two workers starting together build it once.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from ..errors import INTERNAL, CapabilityError
from ..logs import get_logger

log = get_logger("canvascast.render")

PROJECT_DIR = Path(os.environ.get("REMOTION_PROJECT_DIR") or Path(__file__).resolve().parent / "remotion")
BROWSER = os.environ.get("REMOTION_BROWSER_EXECUTABLE", "/usr/bin/chromium")
CHROME_MODE = os.environ.get("REMOTION_CHROME_MODE", "headless-shell")  # measured faster at 1080p
GL = os.environ.get("REMOTION_GL") or None  # chromium OpenGL backend; None = Remotion's default
SIDECAR_SCRIPT = PROJECT_DIR / "sidecar" / "sidecar.mjs"
BUNDLE_TIMEOUT_S = 300


def node() -> str:
    found = shutil.which("node")
    if not found:
        raise CapabilityError(INTERNAL, "node is not installed (Node 24 runs the Remotion sidecar; `make node-runtime` installs it)", retryable=False, http_status=500)
    return found


def check_installed() -> None:
    if not (PROJECT_DIR / "node_modules" / "@remotion" / "renderer").is_dir():
        raise CapabilityError(
            INTERNAL, f"Remotion is not installed: run `npm ci` in {PROJECT_DIR} (or `make node`)", http_status=500
        )
    if not Path(BROWSER).exists():
        raise CapabilityError(INTERNAL, f"no browser at {BROWSER} (apt-get install chromium)", http_status=500)


def source_hash() -> str:
    """Hash of everything the bundle is built from."""
    h = hashlib.sha256()
    files = sorted((PROJECT_DIR / "src").rglob("*")) + sorted((PROJECT_DIR / "public").rglob("*"))
    files += [PROJECT_DIR / "package-lock.json", PROJECT_DIR / "scripts" / "bundle.mjs"]
    for f in files:
        if f.is_file():
            h.update(str(f.relative_to(PROJECT_DIR)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


def data_dir() -> Path:
    from ..settings import get_settings

    return Path(get_settings().data_dir).resolve() / "render"


def build_bundle(out_dir: Path) -> float:
    """Bundle the project into `out_dir` (fresh); returns seconds taken."""
    check_installed()
    try:
        proc = subprocess.run(
            [node(), str(PROJECT_DIR / "scripts" / "bundle.mjs"), str(out_dir)],
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
            timeout=BUNDLE_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as e:
        # webpack on a loaded machine: the next attempt (or another worker) may finish it
        raise CapabilityError(INTERNAL, f"bundling the Remotion project took over {BUNDLE_TIMEOUT_S:g} s", retryable=True, http_status=500) from e
    if proc.returncode != 0:
        raise CapabilityError(INTERNAL, f"bundling the Remotion project failed: {proc.stderr[-2000:]}", http_status=500)
    return float(json.loads(proc.stdout.strip().splitlines()[-1])["seconds"])


def ensure_bundle() -> Path:
    """The bundle for the current source, built at most once per source version."""
    prebuilt = os.environ.get("REMOTION_BUNDLE_DIR")
    if prebuilt:
        path = Path(prebuilt)
        if not (path / "index.html").is_file():
            raise CapabilityError(INTERNAL, f"REMOTION_BUNDLE_DIR={prebuilt} holds no bundle", http_status=500)
        return path
    root = data_dir()
    root.mkdir(parents=True, exist_ok=True)
    target = root / f"bundle-{source_hash()}"
    if (target / "index.html").is_file():
        return target
    with open(root / ".bundle.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / "index.html").is_file():
            return target
        tmp = Path(tempfile.mkdtemp(prefix="bundle-tmp-", dir=root))
        try:
            seconds = build_bundle(tmp)
            os.rename(tmp, target)
            log.info("built remotion bundle", extra={"bundle": str(target), "seconds": seconds})
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        for stale in root.glob("bundle-*"):  # older source versions
            if stale != target and not stale.name.startswith("bundle-tmp-"):
                shutil.rmtree(stale, ignore_errors=True)
    return target
