"""`canvascast images`: generate images from the command line, with a progress bar.

    canvascast images --prompt "a lighthouse at dawn" "a fox in snow" --aspect 16:9 -o out/

Uses the same engine as the capability (same settings, retries, cache and fallback
policy) and the deployment's artifact store, then copies each image to DIR as
`NN-<slug>.<ext>` next to `images.json` (the full result). Exit status: 0 when at
least one prompt produced an image, 1 when none did. A placeholder is announced,
never silent.
"""

from __future__ import annotations

import errno
import json
import os
import re
import sys
from pathlib import Path
from typing import get_args

from ..contract.images import AspectRatio, GenerateImagesRequest
from ..logs import setup_logging
from .errors import PROVIDER_NOT_CONFIGURED


def register(sub) -> None:
    p = sub.add_parser("images", help="generate one image per prompt (Gemini, or placeholders without a key)")
    p.add_argument("--prompt", "-p", dest="prompts", nargs="+", action="extend", required=True, metavar="TEXT")
    p.add_argument("--aspect", default="16:9", choices=get_args(AspectRatio))
    p.add_argument("--style", dest="art_style", default=None, help="art style, e.g. 'watercolour'")
    p.add_argument("--palette", nargs="+", default=[], metavar="#RRGGBB")
    p.add_argument("--avoid", nargs="+", default=[], metavar="THING")
    p.add_argument("--model", default=None, help="Gemini image model (default: IMAGE_MODEL)")
    p.add_argument("-o", "--out", required=True, type=Path, metavar="DIR")
    p.set_defaults(func=_cmd)


def _cmd(args) -> int:
    setup_logging("WARNING")
    style = {"aspect_ratio": args.aspect, "palette": args.palette, "avoid": args.avoid}
    if args.art_style:
        style["art_style"] = args.art_style
    # a bad value is one stderr line, `canvascast images: error [invalid_value]: ...`, exit 2 (cli.main)
    request = GenerateImagesRequest(prompts=args.prompts, style=style, model=args.model)

    from tqdm import tqdm

    from ..storage import get_store
    from .capability import load

    # The output folder before the paid generation, not after it: a file in the way or a
    # folder we may not create is an OSError here, one line and exit 2 (cli.main).
    args.out.mkdir(parents=True, exist_ok=True)
    if not os.access(args.out, os.W_OK | os.X_OK):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(args.out))
    engine = load()
    store = get_store()
    try:
        with tqdm(total=len(request.prompts), unit="image", desc="images", file=sys.stderr, disable=None) as bar:

            def progress(done, total=None, unit=None, message=None):
                bar.update(max(0, int(done) - bar.n))
                if message:
                    bar.set_postfix_str(message[:40])

            result = engine.generate(request, store, progress=progress)
    finally:
        engine.close()

    for item in result.images:
        line = f"#{item.index:02d} {item.status:<11}"
        if item.artifact is not None:
            ext = item.artifact.key.rsplit(".", 1)[-1]
            dest = args.out / f"{item.index:02d}-{_slug(item.prompt)}.{ext}"
            dest.write_bytes(store.read_bytes(item.artifact.key))
            line += f" {dest}  ({item.width}x{item.height}, {item.model}{', cached' if item.cached else ''})"
        if item.error is not None:
            line += f"  [{item.error.code}] {item.error.message}"
        print(line)
    (args.out / "images.json").write_text(json.dumps(result.model_dump(mode="json"), indent=2) + "\n")
    ok = result.succeeded - result.placeholders
    print(f"{ok} ok, {result.placeholders} placeholder, {result.failed} failed, ${result.cost_usd:.3f} -> {args.out}")
    if result.degraded:
        # Why: no provider (then a key is the fix), or a provider that failed (IMAGE_FALLBACK=placeholder:
        # telling someone who has a key to set one sends them the wrong way).
        reasons = sorted({im.error.code for im in result.images if im.status == "placeholder" and im.error})
        fix = "set GEMINI_API_KEY for real images" if reasons == [PROVIDER_NOT_CONFIGURED] else f"the provider failed: {', '.join(reasons)}"
        print(f"DEGRADED: {result.placeholders} placeholder image(s); {fix}", file=sys.stderr)
    return 0 if result.succeeded else 1


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "image"
