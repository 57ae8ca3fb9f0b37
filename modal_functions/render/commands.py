"""`canvascast render TIMELINE.json -o OUT.mp4`: render a timeline on this machine.

The same capability code as a pool worker (sidecar, asset checks, ffprobe
verification), with a progress bar in frames. Asset references in the timeline may be
local paths, relative to the timeline file, as well as artifact keys or https URLs.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from pydantic import ValidationError

URL_PREFIXES = ("http://", "https://", "artifacts/", "renders/")


def resolve_local_refs(data: dict, base: Path) -> dict:
    """Turn relative local asset paths into absolute ones (relative to the timeline file)."""

    def fix(ref):
        if not isinstance(ref, str) or not ref:
            return ref
        path = Path(ref).expanduser()
        path = path if path.is_absolute() else base / path
        # "artifacts/..." and "renders/..." are artifact keys, unless such a local file
        # exists: a project folder named artifacts/ is the likelier meaning on this machine.
        if ref.startswith(URL_PREFIXES) and not path.is_file():
            return ref
        return str(path.resolve())

    # Any shape at all may arrive here (validation comes after): leave the wrong ones
    # alone, for the validation error to name them.
    timeline = data.get("timeline", data)
    if not isinstance(timeline, dict):
        return data
    scenes = timeline.get("scenes")
    for scene in scenes if isinstance(scenes, list) else []:
        if isinstance(scene, dict):
            scene["image"] = fix(scene.get("image"))
    for key in ("narration", "music"):
        if timeline.get(key):
            timeline[key] = fix(timeline[key])
    return data


def _same_file(a: Path, b: Path) -> bool:
    """Same path once resolved, or the same inode (a hard link, another spelling)."""
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def _cmd(args) -> int:
    from ..contract.render import RenderVideoRequest
    from ..errors import CapabilityError
    from ..logs import setup_logging
    from .capability import CAPABILITY
    from .timeline import asset_refs

    setup_logging("WARNING")
    timeline_path = Path(args.timeline)
    try:
        data = json.loads(timeline_path.read_text())
    except (OSError, ValueError) as e:
        print(f"canvascast render: error [bad_timeline]: cannot read {timeline_path}: {e}", file=sys.stderr)
        return 2
    if not isinstance(data, dict):
        print(f"canvascast render: error [bad_timeline]: {timeline_path}: expected a JSON object", file=sys.stderr)
        return 2
    # Relative assets are relative to the timeline file; to the working directory when the
    # timeline is a pipe (/dev/stdin would otherwise mean /proc/PID/fd).
    base = timeline_path.resolve().parent if timeline_path.is_file() else Path.cwd()
    data = resolve_local_refs(data, base)
    body = data if "timeline" in data else {"timeline": data}
    if args.chunks is not None:
        body["chunks"] = args.chunks
    try:
        request = RenderVideoRequest.model_validate(body)
        CAPABILITY.validate(request)
    except ValidationError as e:
        from ..runtime.inhouse import validation_message

        print(f"canvascast render: error [invalid_timeline]: {validation_message(e)}", file=sys.stderr)
        return 2
    except CapabilityError as e:
        print(f"canvascast render: error [{e.code}]: {e.message}", file=sys.stderr)
        return 2

    # The output path is checked before a minute of rendering, not after.
    if not args.output.strip():  # Path("") is ".": the MP4 would land in the working directory unasked
        print("canvascast render: error [bad_output]: -o is empty", file=sys.stderr)
        return 2
    out = Path(args.output)
    if out.is_dir() or args.output.endswith(("/", os.sep)):  # "newdir/" is a folder, made below if missing
        out = out / f"{timeline_path.stem}.mp4"
    # Never write over what this render reads: the timeline itself or one of its local assets.
    inputs = [timeline_path] + [Path(ref) for ref in asset_refs(request.timeline) if os.path.isabs(ref)]
    clash = next((p for p in inputs if _same_file(out, p)), None)
    if clash is not None:
        print(f"canvascast render: error [bad_output]: -o {out} would overwrite {clash}, an input of this render",
              file=sys.stderr)
        return 2
    if out.suffix.lower() != ".mp4":  # an MP4 named x.webm or x.gif is taken for what its name says
        print(f"canvascast render: error [bad_output]: -o {out}: the render is an MP4; give the file a .mp4 name",
              file=sys.stderr)
        return 2
    try:
        made = _make_dirs(out.parent)
    except OSError as e:
        print(f"canvascast render: error [bad_output]: cannot create {out.parent}: {e.strerror or e}", file=sys.stderr)
        return 2
    status = None
    try:
        status = _render_to(out, request, args)
        return status
    finally:
        if status != 0:  # a failed render (or Ctrl-C) leaves no empty directories it made for -o
            _remove_empty(made)


def _make_dirs(folder: Path) -> list[Path]:
    """`mkdir -p folder`; the directories it made, deepest first."""
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        _remove_empty(missing)  # the levels made before the one that failed
        raise
    return missing


def _remove_empty(dirs: list[Path]) -> None:
    for d in dirs:  # deepest first; one that is not empty (the user's file landed there) stays, and so do its parents
        try:
            d.rmdir()
        except OSError:
            return


def _render_to(out: Path, request, args) -> int:
    """Render `request` and copy the MP4 to `out` (its directory exists); the exit status."""
    from tqdm import tqdm

    from ..errors import CapabilityError
    from ..runtime.context import LocalTaskContext
    from ..settings import get_settings
    from ..storage.local import LocalStore
    from .capability import CAPABILITY

    # The MP4 arrives through `partial` (below): a read-only filesystem, a dir we may not
    # write, /proc, ... show now, by creating and removing that very file.
    partial = out.with_name(f".{out.name}.part")
    try:
        with open(partial, "wb"):
            pass
        partial.unlink()
    except OSError as e:
        print(f"canvascast render: error [bad_output]: cannot write {out}: {e.strerror or type(e).__name__}", file=sys.stderr)
        return 2
    store_dir = Path(tempfile.mkdtemp(prefix="canvascast-render-store-"))
    bar = tqdm(total=None, unit="frame", desc="loading", file=sys.stderr, disable=True if args.quiet else None)  # None: off unless a TTY

    def on_progress(p) -> None:
        if p.total and bar.total != p.total:
            bar.reset(total=int(p.total))  # restart the clock: rate in frames/s of the render
        bar.set_description(p.message or "rendering")
        bar.n = int(p.done)
        bar.refresh()

    state = None
    try:
        state = CAPABILITY.load()
        store = LocalStore(store_dir, get_settings().base_url, "cli-local")
        with LocalTaskContext(job_id="cli", on_progress=on_progress, store=store, allow_local_paths=True) as ctx:
            try:
                result = CAPABILITY.run(state, request, ctx)
            except BaseException:
                # The sidecars stop before the job dir goes (on leaving this block): a Ctrl-C reaches
                # node, chromium and ffmpeg too, and a chunk they were finishing was written into
                # the removed dir after the CLI had exited (seen once under load in CI).
                closing, state = state, None
                CAPABILITY.close(closing)
                raise
        try:  # through a .part file: a failed copy leaves no truncated MP4 at `out`
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(store.local_path(result.video.key), partial)
            os.replace(partial, out)
        except BaseException as e:  # Ctrl-C or SIGTERM (SystemExit) mid-copy too: no .part file stays
            try:
                partial.unlink(missing_ok=True)
            except OSError:  # read-only by now, say: the error to report is `e`
                pass
            if not isinstance(e, OSError):
                raise
            # disk full, -o removed meanwhile: name the user's path, not our store's
            bar.close()
            print(f"canvascast render: error [bad_output]: cannot write {out}: {e.strerror or type(e).__name__}", file=sys.stderr)
            return 1
    except CapabilityError as e:
        bar.close()
        print(f"canvascast render: error [{e.code}]: {e.message}", file=sys.stderr)
        return 2 if 400 <= e.http_status < 500 else 1
    finally:
        bar.close()
        # The store first: closing the sidecars takes a second or two, and a SIGTERM then
        # (sys.exit in the handler) would skip whatever comes after it here.
        shutil.rmtree(store_dir, ignore_errors=True)
        if state is not None:
            CAPABILITY.close(state)
        else:  # Ctrl-C/SIGTERM inside load(): its sidecar may be made and half started
            from .sidecar import close_shared

            close_shared()
    print(
        f"wrote {out} ({result.width}x{result.height}, {result.fps} fps, {result.frames} frames, "
        f"{result.chunks} chunk(s), {result.renderSeconds:.1f}s)"
    )
    return 0


def register(sub) -> None:
    p = sub.add_parser("render", help="render a timeline JSON to an MP4 on this machine")
    p.add_argument("timeline", help="Timeline JSON (or a RenderVideoRequest with a 'timeline' key)")
    p.add_argument("-o", "--output", required=True, help="where to write the MP4")
    p.add_argument("--chunks", type=int, default=None, help="render in this many chunks in parallel")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd)
