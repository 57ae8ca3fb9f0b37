"""`canvascast align AUDIO` and `canvascast align-convert`: the alignment capability from a shell.

    canvascast align speech.wav --script-file narration.txt --json
    canvascast align speech.mp3 --engine openai-whisper > captions.srt
    canvascast align-convert            # CTranslate2 tiny.en -> openai-whisper checkpoint (cached)

`align` runs exactly what a job runs (same capability, a local TaskContext). With
`--json` stdout is {"words": [{"word", "start", "end"}, ...]} in seconds; otherwise a
progress bar goes to stderr and the SRT to stdout. Bad audio exits 2 with one
`canvascast align: error [code]: message` line on stderr, like every command.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("align", help="word-level caption timings for an audio file")
    p.add_argument("audio", help="audio file (any format ffmpeg reads), artifact key or https URL")
    p.add_argument("--script-file", type=Path, help="the narration script: captions keep its words and punctuation")
    p.add_argument("--engine", choices=["faster-whisper", "openai-whisper"], default="faster-whisper")
    p.add_argument("--model", default="tiny.en")
    p.add_argument("--language", default="en")
    p.add_argument("--no-refine", action="store_true", help="keep Whisper's own word timings")
    p.add_argument("--json", action="store_true", help='print {"words":[{"word","start","end"}]} (seconds) on stdout')
    p.set_defaults(func=cmd_align)

    c = sub.add_parser("align-convert", help="convert the bundled CTranslate2 Whisper to an openai-whisper checkpoint")
    c.add_argument("--ct2-dir", type=Path, default=None, help="CTranslate2 model dir (default: bundled tiny.en)")
    c.add_argument("--out", type=Path, default=None, help="output .pt (default: cached in the data dir)")
    c.set_defaults(func=cmd_convert)


def cmd_align(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..contract.align import TranscribeAudioRequest
    from ..errors import CapabilityError
    from ..runtime.context import LocalTaskContext
    from .capability import run
    from .pipeline import AlignerState

    # utf-8-sig: the byte-order mark Windows editors write is no part of the first word
    script = args.script_file.read_text(encoding="utf-8-sig") if args.script_file else None
    request = TranscribeAudioRequest(audio=str(args.audio), script=script, language=args.language,
                                     engine=args.engine, model=args.model, refine=not args.no_refine)
    bar = tqdm(total=100, unit="%", file=sys.stderr, disable=True if args.json else None,
               bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f}% {postfix}")

    def on_progress(p) -> None:
        bar.n = min(100.0, float(p.done))
        bar.set_postfix_str(p.message or "", refresh=False)
        bar.refresh()

    try:
        with LocalTaskContext(on_progress=on_progress, allow_local_paths=True) as ctx:
            result = run(AlignerState(), request, ctx)
            srt = ctx.store.read_bytes(result.srt.key).decode() if result.srt else ""
    except CapabilityError as e:
        bar.close()
        print(f"canvascast align: error [{e.code}]: {e.message}", file=sys.stderr)  # like every other command
        return 2 if 400 <= e.http_status < 500 else 1
    bar.close()
    if args.json:
        words = [{"word": w.text.strip(), "start": round(w.startMs / 1000, 3), "end": round(w.endMs / 1000, 3)} for w in result.words]
        print(json.dumps({"words": words}))
        if result.match_rate is not None:  # stdout stays exactly the words; a flagged script is still said
            print(json.dumps({"match_rate": result.match_rate, "flagged": result.flagged}), file=sys.stderr)
    else:
        sys.stdout.write(srt)
        extra = f", script match {result.match_rate:.0%}{' (FLAGGED)' if result.flagged else ''}" if result.match_rate is not None else ""
        print(f"{len(result.words)} words, {result.duration_ms / 1000:.1f} s, {result.engine} {result.model}{extra}; "
              f"srt {result.srt.key if result.srt else '-'}, vtt {result.vtt.key if result.vtt else '-'}", file=sys.stderr)
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    from .convert import bundled_ct2_dir, convert, ensure_openai_checkpoint

    if args.out:
        path = convert(args.ct2_dir or bundled_ct2_dir(), args.out)
    else:
        path = ensure_openai_checkpoint(ct2_dir=args.ct2_dir)
    print(path)
    return 0
