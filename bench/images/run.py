"""bench/images: N prompts through the image capability against a fake Gemini server with injected latency.

Everything runs in this one process against the same fake `generateContent` server on
127.0.0.1 (tests/images/fake_genai_server.py), through the real google-genai SDK:

1. baseline, the seed's shape: a plain loop, one `generate_content` per prompt;
2. our engine with concurrency 1 (same code path as production, sequential);
3. our engine with concurrency C (the per-process limit, IMAGE_CONCURRENCY);
4. the same, with the first requests answered 429 + RetryInfo (backoff is real sleeping here);
5. the same batch again: served from the artifact-store cache, no API call.

Every image run uses fresh prompts (no accidental cache hits) and a real LocalStore in a
temp dir. Prints a table with speed-ups against the baseline.

    .venv/bin/python bench/images/run.py [--prompts 24] [--latency 0.25] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "images"))

from fake_genai_server import FakeGenAI, error  # noqa: E402
from google.genai import types  # noqa: E402

from modal_functions.contract.images import GenerateImagesRequest, ImageStyle  # noqa: E402
from modal_functions.images.capability import build_engine  # noqa: E402
from modal_functions.images.gemini import image_from_response  # noqa: E402
from modal_functions.settings import Settings  # noqa: E402
from modal_functions.storage.local import LocalStore  # noqa: E402


def prompts(tag: str, n: int) -> list[str]:
    return [f"{tag}: scene {i}, a lighthouse on a cliff, waves, dawn light" for i in range(n)]


def seed_loop(engine, items: list[str], style: ImageStyle) -> int:
    """The seed's image_gen.py, on today's API: one blocking call per prompt, in order."""
    client = engine.provider.client
    config = types.GenerateContentConfig(
        response_modalities=["IMAGE"], image_config=types.ImageConfig(aspect_ratio=style.aspect_ratio)
    )
    made = 0
    for p in items:
        image_from_response(client.models.generate_content(model=engine.model, contents=p, config=config))
        made += 1
    return made


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, default=24)
    ap.add_argument("--latency", type=float, default=0.25, help="injected seconds per upstream call")
    ap.add_argument("--concurrency", type=int, default=8)
    a = ap.parse_args()
    style = ImageStyle(aspect_ratio="16:9")

    with FakeGenAI(latency=a.latency) as fake, tempfile.TemporaryDirectory() as tmp:
        store = LocalStore(Path(tmp) / "store", "http://127.0.0.1:0", "bench-secret")

        def engine(c: int):
            settings = Settings(_env_file=None, GEMINI_API_KEY="bench-key", IMAGE_API_BASE_URL=fake.url, IMAGE_TIMEOUT_S=30)
            return build_engine(settings, concurrency=c, slots=threading.BoundedSemaphore(c), rng=random.Random(1))

        rows = []

        def measure(name: str, fn, *, calls_before: int | None = None) -> None:
            before = len(fake.requests)
            t0 = time.perf_counter()
            made = fn()
            wall = time.perf_counter() - t0
            rows.append((name, wall, made, len(fake.requests) - before))
            print(f"  {name}: {wall:.2f} s", file=sys.stderr)

        base = engine(1)
        measure("seed loop (sequential SDK calls)", lambda: seed_loop(base, prompts("seed", a.prompts), style))

        def ours(c: int, tag: str, before=None):
            e = engine(c)

            def go():
                if before:
                    before()
                r = e.generate(GenerateImagesRequest(prompts=prompts(tag, a.prompts), style=style), store)
                assert r.failed == 0, [im.error for im in r.images if im.error]
                return r.succeeded

            return go

        measure("ours, concurrency 1", ours(1, "c1"))
        measure(f"ours, concurrency {a.concurrency}", ours(a.concurrency, "cN"))
        measure(
            f"ours, concurrency {a.concurrency}, 2x 429 RetryInfo 0.5s",
            ours(a.concurrency, "r429", before=lambda: fake.push(*[error(429, retry_delay="0.5s")] * 2)),
        )
        measure(f"ours, concurrency {a.concurrency}, cached rerun", ours(a.concurrency, "cN"))

    baseline = rows[0][1]
    print(f"\nbench/images  ({a.prompts} prompts, {a.latency:.2f} s injected latency per call, real google-genai SDK "
          f"-> fake generateContent on 127.0.0.1)\n")
    print(f"{'path':<48}{'wall s':>8}{'images':>8}{'API calls':>11}{'images/s':>10}{'speed-up x':>12}")
    for name, wall, made, calls in rows:
        print(f"{name:<48}{wall:>8.2f}{made:>8}{calls:>11}{made / wall:>10.1f}{baseline / wall:>12.2f}")
    print("\nspeed-up x = seed-loop wall time / this row's wall time (same run, same server, same latency).")
    print("The 429 row really sleeps: its backoff honours RetryInfo but never waits less than 1 s + jitter.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
