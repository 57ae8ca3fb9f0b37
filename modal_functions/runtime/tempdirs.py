"""Per-attempt temp dirs under the data dir, removed on every path.

The parent process (not the worker) creates and removes them, so a worker killed
mid-job (stall, timeout, cancel, crash) still leaves nothing behind. Anything left by
a server that died is swept at the next start.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


class TempDirs:
    def __init__(self, root: Path):
        self.root = Path(root)

    def create(self, job_id: str, attempt: int) -> Path:
        path = self.root / f"{_SAFE.sub('_', job_id)}-{attempt}"
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        return path

    def remove(self, path: Path) -> None:
        shutil.rmtree(path, ignore_errors=True)

    def sweep(self) -> int:
        """Remove every leftover dir (call at start, before any job runs)."""
        if not self.root.exists():
            return 0
        count = 0
        for child in self.root.iterdir():
            if child.is_dir():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)
            count += 1
        return count

    def live(self) -> list[Path]:
        return sorted(self.root.iterdir()) if self.root.exists() else []
