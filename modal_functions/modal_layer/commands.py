"""`canvascast modal ...`: what an operator runs around a Modal deploy.

- `canvascast modal settings`: build the app (offline) and print every function's
  resources and scaling as read back from the built Modal objects, next to modal.toml.
- `canvascast modal upload-weights`: put the production Whisper weights on the Volume
  before the first deploy (from a local CTranslate2 directory, or `--remote` from the Hub
  inside Modal). Needs a Modal token.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(subparsers) -> None:
    modal_cmd = subparsers.add_parser("modal", help="Modal deployment helpers (settings, weights)")
    sub = modal_cmd.add_subparsers(dest="modal_command", required=True)

    settings = sub.add_parser("settings", help="print each Modal function's settings, read back from the built app")
    settings.add_argument("--json", action="store_true", help="machine-readable output")
    settings.set_defaults(func=cmd_settings)

    weights = sub.add_parser("upload-weights", help="load the production Whisper weights into the app's Volume")
    weights.add_argument("--model", default=None, help="model name (default: the production model, see weights.py)")
    source = weights.add_mutually_exclusive_group(required=True)
    source.add_argument("--from", dest="source", type=Path, help="local CTranslate2 model directory (model.bin, config.json, ...)")
    source.add_argument("--remote", action="store_true", help="download from the Hugging Face Hub inside Modal")
    weights.add_argument("--volume", default=None, help="Volume name (default: [app] volume in modal.toml)")
    weights.set_defaults(func=cmd_upload_weights)


def cmd_settings(args: argparse.Namespace) -> int:
    import modal_functions.modal_layer.app as modal_app

    from .built import all_settings
    from .settings_from_toml import expected_settings

    built = all_settings(modal_app)
    expected = expected_settings(modal_app.CONFIG)
    if args.json:
        print(json.dumps({"app": modal_app.app.name, "functions": built}, indent=2))
        return 0
    keys = ["gpu", "cpu", "memory", "timeout", "retries", "min_containers", "max_containers", "buffer_containers", "scaledown_window"]
    print(f"app {modal_app.app.name!r} (modal.toml: {modal_app.CONFIG.app.name!r})")
    print("  ".join(f"{k:>15}" for k in ["function", *keys, "matches"]))
    mismatches = 0
    for name, s in built.items():
        ok = all(s[k] == expected[name][k] for k in keys)
        mismatches += not ok
        print("  ".join(f"{str(v):>15}" for v in [name, *(s[k] for k in keys), "yes" if ok else "NO"]))
    return 1 if mismatches else 0


def cmd_upload_weights(args: argparse.Namespace) -> int:
    import modal
    from modal.exception import AuthError

    from ..config import get_config
    from .weights import PRODUCTION_MODEL, upload_local

    model = args.model or PRODUCTION_MODEL
    try:
        if args.remote:
            import modal_functions.modal_layer.app as modal_app

            with modal.enable_output(), modal_app.app.run():
                result = modal_app.upload_weights.remote(model)
            print(json.dumps(result, indent=2))
            return 0
        from tqdm import tqdm

        volume_name = args.volume or get_config().app.volume
        volume = modal.Volume.from_name(volume_name, create_if_missing=True)
        from .weights import plan_upload

        plan = plan_upload(args.source, model)
        with tqdm(total=sum(p.stat().st_size for p, _ in plan), unit="B", unit_scale=True, desc=f"{model} -> {volume_name}",
                  disable=None) as bar:
            paths = upload_local(volume, args.source, model, on_file=lambda local, _remote: bar.update(local.stat().st_size))
        print(json.dumps({"volume": volume_name, "model": model, "files": paths}, indent=2))
        return 0
    except AuthError as e:
        print(f"canvascast modal upload-weights: no Modal token ({e}). Run `modal token new` or set MODAL_TOKEN_ID/MODAL_TOKEN_SECRET.", file=sys.stderr)
        return 2
    except (FileNotFoundError, ValueError) as e:
        print(f"canvascast modal upload-weights: {e}", file=sys.stderr)
        return 2
