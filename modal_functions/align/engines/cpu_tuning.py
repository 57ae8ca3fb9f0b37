"""Process settings for Whisper on CPU, applied once when the first engine loads.

Both engines bring their own thread pools sized to the cores (CTranslate2: OpenMP; PyTorch:
OpenMP and MKL). Two process defaults get in their way. Measured on the 22 bench clips on
2 cores (`bench/align`, 2026-11-24):

- **numpy's OpenBLAS threads.** After every numpy matmul (the mel filterbank, word-timing
  DTW, boundary refinement) OpenBLAS's worker threads busy-wait for more work, on the cores
  CTranslate2's threads need. One BLAS thread: faster-whisper 15.2 s -> 13.1 s. PyTorch has
  its own BLAS, so openai-whisper does not change (40.7-41.2 s).
- **glibc giving memory back.** Blocks over 32 MB are mmapped and unmapped on every call,
  and a freed heap top goes back to the kernel, so every 30 s window faults the encoder's
  attention scores in again (6 heads x 1500 x 1500 floats, 54 MB a layer for tiny.en):
  2.5 M page faults over the set. Keeping freed memory for reuse: 71 K page faults, the
  int8 encoder 326 -> 202 ms a window, faster-whisper 18.7 -> 15.2 s and openai-whisper
  46.8 -> 41.2 s. The price is that the process keeps its peak heap (+27 MB RSS).

Both are process-wide, which is what a warm alignment worker is: set once, never undone.
"""

from __future__ import annotations

import ctypes
import platform
import threading

from ...logs import get_logger

log = get_logger(__name__)

# mallopt(3) parameters (malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
# Blocks up to this size come from the heap and are reused: large-v3's attention scores on
# CPU are 20 x 1500 x 1500 floats (180 MB) a layer.
MMAP_THRESHOLD = 256 << 20
# Freed memory at the heap top is kept up to this size instead of being given back.
TRIM_THRESHOLD = 512 << 20

_lock = threading.Lock()
_applied: dict | None = None


def tune_for_inference() -> dict:
    """Apply both settings once per process; returns what was applied (for logs and tests)."""
    global _applied
    with _lock:
        if _applied is None:
            _applied = {"heap_reuse": _keep_freed_memory(), "numpy_blas_threads": _one_numpy_blas_thread()}
            log.info("cpu inference tuning", extra=_applied)
        return _applied


def _keep_freed_memory() -> bool:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False  # musl and macOS allocators: nothing to set
    libc = ctypes.CDLL(None)
    return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))


def _one_numpy_blas_thread() -> int | None:
    """Limit numpy's OpenBLAS to one thread; the engines' own pools (OpenMP, MKL) keep theirs."""
    import numpy  # noqa: F401  (threadpoolctl sees only libraries already loaded)
    from threadpoolctl import ThreadpoolController

    blas = ThreadpoolController().select(internal_api="openblas")
    if not blas.lib_controllers:
        return None
    blas.limit(limits=1)  # not a context: the limit stays for the life of the process
    return 1
