"""Render bench: the same composition, props and encoder settings three ways, one run.

  (a) plain `npx remotion render` with a fresh bundle (the baseline: what a job costs
      without warm workers), at `--concurrency=1`, its default on 2 cores (half the
      cores; two tabs of its one browser were slower here, docs/render.md "Browsers");
  (b) our warm sidecar (bundle built and browsers open before the clock starts: one
      browser per core, one tab in each, frames into one encoder);
  (c) our chunked path: a `render_video` job with `chunks` on an in-house pool of
      warm workers, its chunks spread over the pool's workers and joined with
      combineChunks (pool.py; `--chunked local` instead uses one process's sidecars,
      the CLI's path).

Configurations: 720p and 1080p, each for a 15 s and a 60 s timeline (16:9, 30 fps).
For each it prints frames/s, the ratio to (a) and PSNR of (b) and (c) against (a);
the bundle time is printed on its own line. Target: (b) >= 1.3x (a) everywhere with
PSNR(b, a) >= 45 dB.

    .venv/bin/python bench/render/run.py            # full run (long: run it in the background)
    .venv/bin/python bench/render/run.py --quick    # 360p x 3 s smoke run
    .venv/bin/python bench/render/run.py --configs 720x15,1080x15

Results also go to bench/results/render.json.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from modal_functions.contract.render import Timeline  # noqa: E402
from modal_functions.render import project  # noqa: E402
from modal_functions.render.chunks import plan_chunks, render_chunked  # noqa: E402
from modal_functions.render.sidecar import ENCODER, Sidecar  # noqa: E402
from modal_functions.render.timeline import check_timeline  # noqa: E402

FPS = 30
WORDS = "the quick brown fox explains how warm workers render explainer videos from a timeline".split()


def make_assets(folder: Path, seconds: float) -> None:
    """Distinct, textured scene images, a narration-like track and music (all local)."""
    import numpy as np
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(7)
    for i in range(6):
        w, h = 1920, 1080
        y, x = np.mgrid[0:h, 0:w]
        base = rng.integers(40, 215, size=3)
        img = np.stack([(base[c] + 40 * np.sin((x * (c + 1) + y * (i + 1)) / 180.0)) for c in range(3)], axis=-1)
        im = Image.fromarray(np.clip(img, 0, 255).astype("uint8"))
        d = ImageDraw.Draw(im)
        for _ in range(12):
            cx, cy, r = int(rng.integers(0, w)), int(rng.integers(0, h)), int(rng.integers(40, 220))
            d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=tuple(int(v) for v in rng.integers(0, 255, size=3)))
        im.save(folder / f"scene{i}.jpg", quality=90)
    subprocess.run(
        ["sox", "-n", "-r", "44100", "-c", "1", str(folder / "narration.wav"), "synth", str(seconds), "sine", "180-420", "tremolo", "4", "80"],
        check=True,
    )
    subprocess.run(
        ["sox", "-n", "-r", "44100", "-c", "2", str(folder / "music.wav"), "synth", "8", "pluck", "C3", "pluck", "E3", "vol", "0.5"],
        check=True,
    )


def make_props(ref: Callable[[str], str], resolution: int, seconds: float) -> dict:
    """The bench timeline; `ref(name)` says where asset `name` lives (a URL, or an artifact key)."""
    total_ms = seconds * 1000
    n_scenes = max(2, int(seconds // 5))
    scene_ms = total_ms / n_scenes
    scenes = [
        {
            "image": ref(f"scene{i % 6}.jpg"),
            "startMs": round(i * scene_ms, 3),
            "endMs": round((i + 1) * scene_ms, 3),
            "kenBurnsFrom": {"zoom": 1.0, "x": 0.5, "y": 0.5},
            "kenBurnsTo": {"zoom": 1.2, "x": 0.3 + 0.1 * (i % 4), "y": 0.4},
            "transition": ["fade", "slide", "cut"][i % 3],
        }
        for i in range(n_scenes)
    ]
    captions = []
    t = 400.0
    i = 0
    while t + 350 < total_ms:
        captions.append({"text": WORDS[i % len(WORDS)], "startMs": t, "endMs": t + 330})
        t += 400 if (i + 1) % 9 else 1400
        i += 1
    timeline = Timeline.model_validate(
        {
            "aspectRatio": "16:9",
            "resolution": resolution,
            "fps": FPS,
            "durationMs": total_ms,
            "title": "Warm workers, cold starts",
            "titleMs": 2500,
            "scenes": scenes,
            "narration": ref("narration.wav"),
            "music": ref("music.wav"),
            "captions": captions,
        }
    )
    return timeline.model_dump(mode="json")


def serve(folder: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *a):  # noqa: D401
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}"


def time_bundle(tmp: Path) -> float:
    out = tmp / "bundle-timed"
    shutil.rmtree(out, ignore_errors=True)
    started = time.monotonic()
    project.build_bundle(out)
    return time.monotonic() - started


def run_cli(props: dict, out: Path, tmp: Path) -> float:
    """(a): plain CLI, fresh bundle (webpack cache off), same encoder settings."""
    props_file = tmp / "props.json"
    props_file.write_text(json.dumps(props))
    cmd = [
        "npx", "--no-install", "remotion", "render", "src/index.ts", "Explainer", str(out),
        f"--props={props_file}",
        "--codec=h264",
        f"--crf={ENCODER['crf']}",
        f"--x264-preset={ENCODER['x264Preset']}",
        f"--pixel-format={ENCODER['pixelFormat']}",
        f"--image-format={ENCODER['imageFormat']}",
        f"--browser-executable={project.BROWSER}",
        "--concurrency=1",
        "--bundle-cache=false",
        "--enforce-audio-track",
        "--log=error",
    ]
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=project.PROJECT_DIR, capture_output=True, text=True)
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        raise RuntimeError(f"npx remotion render failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return seconds


def psnr(a: Path, b: Path) -> float:
    proc = subprocess.run(
        ["ffmpeg", "-hide_banner", "-i", str(a), "-i", str(b), "-lavfi", "[0:v][1:v]psnr", "-f", "null", "-"],
        capture_output=True,
        text=True,
    )
    m = re.search(r"average:(inf|[0-9.]+)", proc.stderr)
    if not m:
        raise RuntimeError(proc.stderr[-1000:])
    return float("inf") if m.group(1) == "inf" else float(m.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one tiny configuration (360p x 3 s)")
    parser.add_argument("--configs", default="720x15,1080x15,720x60,1080x60", help="RESOLUTIONxSECONDS,...")
    parser.add_argument("--chunks", type=int, default=2, help="chunks (and pool workers) for (c)")
    parser.add_argument("--chunked", choices=("pool", "local"), default="pool",
                        help="(c) as an in-house pool job (default) or over one process's sidecars")
    parser.add_argument("--json", default=str(ROOT / "bench" / "results" / "render.json"))
    args = parser.parse_args()
    configs = [(360, 3.0)] if args.quick else [(int(r), float(s)) for r, s in (c.split("x") for c in args.configs.split(","))]

    project.check_installed()
    tmp = Path(tempfile.mkdtemp(prefix="bench-render-"))
    sidecars: list[Sidecar] = []
    pool = None
    results = []
    try:
        assets = tmp / "assets"
        assets.mkdir()
        make_assets(assets, max(s for _, s in configs))
        httpd, base_url = serve(assets)
        url = lambda name: f"{base_url}/{name}"  # noqa: E731

        bundle_s = time_bundle(tmp)
        print(f"bundle time (fresh webpack bundle, part of every (a) run): {bundle_s:.1f} s", flush=True)
        bundle = project.ensure_bundle()
        sidecars = [Sidecar(bundle) for _ in range(max(1, args.chunks) if args.chunked == "local" else 1)]
        for sc in sidecars:
            sc.ensure()
        # Warm-up: first render in a fresh browser pays for caches; the warm path never does.
        warm_props = make_props(url, 360, 1.0)
        warm_geo = check_timeline(Timeline.model_validate(warm_props))
        for sc in sidecars:
            sc.render(warm_props, tmp / "warmup.mp4", composition=warm_geo.composition())
        if args.chunked == "pool":
            from pool import PoolRenders

            pool = PoolRenders(tmp, assets, bundle, max(1, args.chunks))
            pool.warm(make_props(pool.ref, 360, 1.0))
        print(f"(b): the warm sidecar, {sidecars[0].browsers} browser(s) with one tab each")
        print(f"(c): {args.chunks} chunks, {'an in-house pool job' if pool else 'local sidecars in one process'}")

        print(f"encoder: h264 crf={ENCODER['crf']} preset={ENCODER['x264Preset']} pix_fmt={ENCODER['pixelFormat']}; {FPS} fps; 16:9; cores={os.cpu_count()}")
        header = f"{'config':>10} {'frames':>6} | {'(a) cli fps':>11} {'(b) warm fps':>12} {'(c) chunked fps':>15} | {'b/a':>5} {'c/a':>5} | {'PSNR(b,a)':>9} {'PSNR(c,a)':>9}"
        print(header)
        print("-" * len(header), flush=True)
        for resolution, seconds in configs:
            props = make_props(url, resolution, seconds)
            geo = check_timeline(Timeline.model_validate(props))
            out_a, out_b, out_c = tmp / f"a-{resolution}-{seconds:g}.mp4", tmp / f"b-{resolution}-{seconds:g}.mp4", tmp / f"c-{resolution}-{seconds:g}.mp4"

            a_s = run_cli(props, out_a, tmp)

            started = time.monotonic()
            sidecars[0].render(props, out_b, composition=geo.composition())
            b_s = time.monotonic() - started

            ranges = plan_chunks(geo.frames, args.chunks, fps=geo.fps, requested=args.chunks)
            if pool is not None:
                c_s = pool.render(make_props(pool.ref, resolution, seconds), len(ranges), out_c)
            else:
                started = time.monotonic()
                render_chunked(props, geo, out_c, tmp / f"chunks-{resolution}-{seconds:g}", sidecars, ranges)
                c_s = time.monotonic() - started

            row = {
                "resolution": resolution,
                "seconds": seconds,
                "frames": geo.frames,
                "bundle_s": round(bundle_s, 2),
                "a_s": round(a_s, 2),
                "b_s": round(b_s, 2),
                "c_s": round(c_s, 2),
                "a_fps": round(geo.frames / a_s, 2),
                "b_fps": round(geo.frames / b_s, 2),
                "c_fps": round(geo.frames / c_s, 2),
                "b_over_a": round(a_s / b_s, 2),
                "c_over_a": round(a_s / c_s, 2),
                "psnr_b_a": round(psnr(out_b, out_a), 2),
                "psnr_c_a": round(psnr(out_c, out_a), 2),
                "chunks": len(ranges),
            }
            results.append(row)
            print(
                f"{f'{resolution}p x{seconds:g}s':>10} {geo.frames:>6} | {row['a_fps']:>11.2f} {row['b_fps']:>12.2f} {row['c_fps']:>15.2f} | "
                f"{row['b_over_a']:>4.2f}x {row['c_over_a']:>4.2f}x | {row['psnr_b_a']:>9.2f} {row['psnr_c_a']:>9.2f}",
                flush=True,
            )
            for f in (out_a, out_b, out_c):
                f.unlink(missing_ok=True)
        httpd.shutdown()
        ok = all(r["b_over_a"] >= 1.3 and r["psnr_b_a"] >= 45 for r in results)
        print(f"target (b) >= 1.3x (a) and PSNR(b,a) >= 45 dB in every configuration: {'met' if ok else 'NOT met'}")
        out = Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"bundle_s": round(bundle_s, 2), "encoder": ENCODER, "fps": FPS, "chunked": args.chunked, "results": results}, indent=2))
        return 0
    finally:
        if pool is not None:
            pool.close()
        for sc in sidecars:
            sc.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
