"""Per-attempt temp dirs under the data dir, removed on every path.

The parent process (not the worker) creates and removes them, so a worker killed
mid-job (stall, timeout, cancel, crash) still leaves nothing behind. Anything left by
a server that died is swept at the next start, and what such a server's dying worker still made
after that sweep goes at the end of the next attempt: one server per data dir (the registry's
lock), so a dir this instance did not create is nobody's.
"""

from __future__ import annotations

import re
import shutil
import threading
from pathlib import Path

_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


class TempDirs:
    def __init__(self, root: Path):
        self.root = Path(root)
        self._lock = threading.Lock()
        self._ours: set[Path] = set()  # created and not yet removed: attempts in progress

    def create(self, job_id: str, attempt: int) -> Path:
        path = self.root / f"{_SAFE.sub('_', job_id)}-{attempt}"
        with self._lock:  # ours before it exists: a concurrent strays sweep never sees it unclaimed
            self._ours.add(path)
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        return path

    def remove(self, path: Path) -> None:
        shutil.rmtree(path, ignore_errors=True)
        with self._lock:
            self._ours.discard(path)
        self._remove_strays()

    def _remove_strays(self) -> None:
        """Remove what this instance did not create (listed first, then the claims read: a dir made
        after the listing is not in it, one listed was claimed before it existed)."""
        try:
            children = list(self.root.iterdir())
        except OSError:
            return
        with self._lock:
            ours = set(self._ours)
        for child in children:
            if child not in ours:
                _remove(child)

    def sweep(self) -> int:
        """Remove every leftover dir (call at start, before any job runs)."""
        if not self.root.exists():
            return 0
        count = 0
        for child in self.root.iterdir():
            _remove(child)
            count += 1
        return count

    def live(self) -> list[Path]:
        return sorted(self.root.iterdir()) if self.root.exists() else []


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
