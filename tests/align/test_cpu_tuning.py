"""The process settings Whisper on CPU gets when an engine loads (align/engines/cpu_tuning.py).

Each case runs in a fresh interpreter: the settings are process-wide and never undone.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import textwrap

import pytest

REPEATS = 20


def _run(code: str) -> dict:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _faults_after_large_blocks(tuned: bool) -> dict:
    return _run(f"""
        import json, resource
        applied = None
        if {tuned}:
            from modal_functions.align.engines.cpu_tuning import tune_for_inference
            applied = tune_for_inference()
        def faults():
            return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        block = bytearray(64 << 20); del block
        before = faults()
        for _ in range({REPEATS}):
            block = bytearray(64 << 20); del block
        print(json.dumps({{"faults": faults() - before, "applied": applied}}))
    """)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_freed_large_blocks_are_reused_instead_of_faulted_in_again():
    plain = _faults_after_large_blocks(tuned=False)
    tuned = _faults_after_large_blocks(tuned=True)
    assert tuned["applied"]["heap_reuse"] is True
    # Untuned, each 64 MB block is a fresh mmap: 16 K pages faulted in every time.
    assert plain["faults"] > REPEATS * 1000
    assert tuned["faults"] < plain["faults"] / 100


def test_numpy_blas_gets_one_thread_and_the_engines_pools_keep_theirs():
    result = _run("""
        import json, os
        import ctranslate2, numpy
        from threadpoolctl import threadpool_info
        def pools():
            return {(p["internal_api"], p["filepath"]): p["num_threads"] for p in threadpool_info()}
        before = pools()
        from modal_functions.align.engines.cpu_tuning import tune_for_inference
        first, second = tune_for_inference(), tune_for_inference()
        after = pools()
        print(json.dumps({"before": [[*k, v] for k, v in before.items()], "after": [[*k, v] for k, v in after.items()],
                          "same": first == second}))
    """)
    before = {(api, path): n for api, path, n in result["before"]}
    after = {(api, path): n for api, path, n in result["after"]}
    assert result["same"]
    blas = [key for key in after if key[0] == "openblas"]
    assert blas, "numpy's OpenBLAS is loaded"
    assert all(after[key] == 1 for key in blas)
    others = [key for key in after if key[0] != "openblas"]
    assert others, "ctranslate2's OpenMP pool is loaded"
    assert all(after[key] == before[key] for key in others)
