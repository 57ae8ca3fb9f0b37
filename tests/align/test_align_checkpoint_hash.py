"""Finding the cached openai-whisper checkpoint hashes the CTranslate2 weights as a stream: the whole
model.bin was read into memory for it at every openai-whisper load (3 GB for large-v3, on top of the
model itself), though the checkpoint was converted long before."""

import tracemalloc

from modal_functions.align.convert import bundled_ct2_dir, ensure_openai_checkpoint


def test_finding_the_cached_checkpoint_does_not_hold_the_weights_in_memory(data_dir):
    path = ensure_openai_checkpoint(data_dir)  # converted (or found) once
    size = (bundled_ct2_dir() / "model.bin").stat().st_size
    tracemalloc.start()
    try:
        assert ensure_openai_checkpoint(data_dir) == path
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < size / 10, f"{peak / 1e6:.0f} MB held to hash {size / 1e6:.0f} MB of weights"
