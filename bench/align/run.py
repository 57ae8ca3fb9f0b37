"""# Alignment bench: how close are caption word times to the audio?

Builds its own ground truth (see dataset.py: espeak-ng words joined with and without
gaps, a -45 dBFS noise floor on half, continuous sentences timed by libespeak-ng's word
events), then runs four configurations over every clip in one process:

- fw raw      faster-whisper tiny.en int8, Whisper's own word timings (the baseline)
- fw+refine   the same recognition, boundaries refined against the signal
- fw+ref+scr  the same, with the narration script aligned onto the recognition
- ow raw      openai-whisper on the weights converted from the same CTranslate2 model

and prints WER, start/end error (mean, p90, ms), the share of starts within 100 ms,
real-time factor and model load time, on the whole set and each subset; then the
faster-whisper vs openai-whisper speed ratio at the product's decoding (beam search of 5,
`DecodeOptions`) and, beside it, at greedy decoding; and the greedy token-identity check
(faster-whisper float32 vs openai-whisper, both greedy, same weights).

    .venv/bin/python bench/align/run.py [--seed 7] [--cache bench/results] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1]))

from dataset import Clip, build  # noqa: E402

from modal_functions.align.audio import load_audio  # noqa: E402
from modal_functions.align.engines import GREEDY, DecodeOptions, load_engine  # noqa: E402
from modal_functions.align.pipeline import AlignerState, align  # noqa: E402
from modal_functions.align.script_align import normalise, pair  # noqa: E402

CONFIGS = ["fw raw", "fw+refine", "fw+ref+scr", "ow raw"]
SUBSETS = ["all", "gapped", "joined", "noisy", "continuous"]
TARGETS = {"start_mean": 40.0, "end_mean": 60.0, "within100": 0.90, "rtf": 0.12}


def wer(ref: list[str], hyp: list[str]) -> tuple[int, int]:
    """(edits, reference length) by word-level Levenshtein distance."""
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1], len(ref)


def score(clip: Clip, words: list[tuple[str, float, float]]) -> dict:
    ref = [normalise(w.word) for w in clip.words]
    hyp = [normalise(w) for w, _, _ in words]
    hyp = [h for h in hyp if h]
    edits, n = wer(ref, hyp)
    kept = [(w, s, e) for w, s, e in words if normalise(w)]
    starts, ends = [], []
    for i, j in pair(ref, [normalise(w) for w, _, _ in kept]):
        starts.append(abs(kept[j][1] - clip.words[i].start) * 1000)
        ends.append(abs(kept[j][2] - clip.words[i].end) * 1000)
    return {"edits": edits, "ref": n, "starts": starts, "ends": ends}


def summarise(rows: list[dict]) -> dict:
    starts = np.array([x for r in rows for x in r["starts"]])
    ends = np.array([x for r in rows for x in r["ends"]])
    audio = sum(r["audio_s"] for r in rows)
    if not rows:
        return {"clips": 0, **{k: float("nan") for k in ("wer", "start_mean", "start_p90", "end_mean", "end_p90", "within100", "rtf", "rtf_cpu")}, "timed_words": 0}
    return {
        "clips": len(rows),
        "wer": sum(r["edits"] for r in rows) / max(1, sum(r["ref"] for r in rows)),
        "start_mean": float(starts.mean()) if starts.size else float("nan"),
        "start_p90": float(np.percentile(starts, 90)) if starts.size else float("nan"),
        "end_mean": float(ends.mean()) if ends.size else float("nan"),
        "end_p90": float(np.percentile(ends, 90)) if ends.size else float("nan"),
        "within100": float((starts <= 100).mean()) if starts.size else float("nan"),
        "rtf": sum(r["seconds"] for r in rows) / audio,
        "rtf_cpu": sum(r["cpu"] for r in rows) / audio,
        "timed_words": int(starts.size),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--cache", type=Path, default=HERE.parents[1] / "bench" / "results")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--clips", type=int, default=0, help="only the first N clips (smoke run)")
    args = ap.parse_args(argv)
    os.environ.setdefault("CANVASCAST_DATA_DIR", str(args.cache / "data"))

    t0 = time.perf_counter()
    clips = build(args.cache, seed=args.seed)
    if args.clips:
        clips = clips[: args.clips]
    build_s = time.perf_counter() - t0
    zero = sum(c.zero_gap_joins for c in clips)
    joins = sum(c.joins for c in clips)
    print(f"set: {len(clips)} clips ({sum(c.kind != 'continuous' for c in clips)} word-joined, "
          f"{sum(c.kind == 'continuous' for c in clips)} continuous, {sum(c.noisy for c in clips)} noisy), "
          f"{sum(len(c.words) for c in clips)} words, zero-gap joins {zero}/{joins} ({zero / max(1, joins):.0%}); "
          f"built/loaded in {build_s:.1f} s", file=sys.stderr)

    data_dir = Path(os.environ["CANVASCAST_DATA_DIR"])
    state = AlignerState()
    loads: dict[str, float] = {}
    t = time.perf_counter()
    state.engines[("faster-whisper", "tiny.en")] = load_engine("faster-whisper", "tiny.en", data_dir=data_dir)
    loads["faster-whisper"] = time.perf_counter() - t
    t = time.perf_counter()
    state.forced_aligner()
    loads["aligner"] = time.perf_counter() - t
    from modal_functions.align.convert import ensure_openai_checkpoint

    t = time.perf_counter()
    ensure_openai_checkpoint(data_dir)
    loads["convert (cached after first run)"] = time.perf_counter() - t
    t = time.perf_counter()
    ow = load_engine("openai-whisper", "tiny.en", data_dir=data_dir)
    loads["openai-whisper"] = time.perf_counter() - t
    fw32 = load_engine("faster-whisper", "tiny.en", data_dir=data_dir, compute_type="float32")
    fw = state.engines[("faster-whisper", "tiny.en")]
    opts = DecodeOptions(language="en")  # what the product decodes with
    greedy = DecodeOptions(language="en", beam_size=GREEDY)  # the conversion proof, and the greedy speed figure

    # Warm both engines once on speech, so the first clip carries no one-off start-up cost
    # (openai-whisper JIT-compiles its DTW with numba on the first clip that has words).
    warm = load_audio(Path(clips[0].path))[: 16000 * 5]
    for o in (opts, greedy):
        fw.transcribe(warm, o), ow.transcribe(warm, o), fw32.transcribe(warm, o)

    rows: dict[str, list[dict]] = {c: [] for c in CONFIGS}
    identical, differing = 0, []
    fw_s = ow_s = 0.0  # at the product's decoding
    fw_g = ow_g = fw32_g = 0.0  # greedy
    for k, clip in enumerate(clips):
        audio = load_audio(Path(clip.path))
        dur = audio.size / 16000
        base = {"clip": clip.name, "subsets": clip.subsets, "audio_s": dur}

        t, c = time.perf_counter(), time.process_time()
        rec = fw.transcribe(audio, opts)
        rec_s, rec_c = time.perf_counter() - t, time.process_time() - c
        fw_s += rec_s
        rows["fw raw"].append({**base, **score(clip, [(w.text, w.start, w.end) for w in rec.words]), "seconds": rec_s, "cpu": rec_c})

        t, c = time.perf_counter(), time.process_time()
        a = align(state, audio, recognition=rec, refine_boundaries=True)
        rows["fw+refine"].append({**base, **score(clip, _plain(a)), "seconds": rec_s + time.perf_counter() - t,
                                  "cpu": rec_c + time.process_time() - c})

        t, c = time.perf_counter(), time.process_time()
        a = align(state, audio, recognition=rec, refine_boundaries=True, script=clip.script)
        rows["fw+ref+scr"].append({**base, **score(clip, _plain(a)), "seconds": rec_s + time.perf_counter() - t,
                                   "cpu": rec_c + time.process_time() - c,
                                   "match_rate": a.match_rate, "forced": a.refine_stats.force_aligned / max(1, a.refine_stats.words)})

        t, c = time.perf_counter(), time.process_time()
        orec = ow.transcribe(audio, opts)
        o_s = time.perf_counter() - t
        ow_s += o_s
        rows["ow raw"].append({**base, **score(clip, [(w.text, w.start, w.end) for w in orec.words]), "seconds": o_s,
                               "cpu": time.process_time() - c})

        t = time.perf_counter()
        fw.transcribe(audio, greedy)
        fw_g += time.perf_counter() - t
        t = time.perf_counter()
        frec = fw32.transcribe(audio, greedy)
        fw32_g += time.perf_counter() - t
        t = time.perf_counter()
        orec = ow.transcribe(audio, greedy)
        ow_g += time.perf_counter() - t
        if frec.tokens == orec.tokens:
            identical += 1
        else:
            differing.append(clip.name)
        print(f"[{k + 1}/{len(clips)}] {clip.name}: {dur:.1f} s, match {a.match_rate:.2f}, "
              f"forced-aligned {a.refine_stats.force_aligned}/{a.refine_stats.words}", file=sys.stderr)

    summary = {c: {s: summarise([r for r in rows[c] if s == "all" or s in r["subsets"]]) for s in SUBSETS} for c in CONFIGS}
    _print_table(summary, loads)
    ratio = ow_s / fw_s
    print(f"\nspeed, same weights, same clips, beam search of {opts.beam_size} (the product's decoding): faster-whisper int8 "
          f"{fw_s:.1f} s, openai-whisper {ow_s:.1f} s -> faster-whisper {ratio:.2f}x faster; target >= 3x "
          f"{'MET' if ratio >= 3 else 'MISSED'}")
    print(f"speed, greedy: faster-whisper int8 {fw_g:.1f} s, float32 {fw32_g:.1f} s, openai-whisper {ow_g:.1f} s -> "
          f"{ow_g / fw_g:.2f}x (int8), {ow_g / fw32_g:.2f}x (float32)")
    print(f"greedy token identity, faster-whisper float32 vs openai-whisper on converted weights: "
          f"{identical}/{len(clips)} clips identical" + (f" (differ: {', '.join(differing)})" if differing else ""))
    _print_targets(summary["fw+ref+scr"])
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"summary": summary, "loads": loads, "speed_ratio": ratio, "speed_ratio_greedy": ow_g / fw_g, "identical": identical,
                                         "clips": len(clips), "rows": rows}, indent=1, default=float))
    return 0


def _plain(a) -> list[tuple[str, float, float]]:
    return [(w.text.strip(), w.startMs / 1000, w.endMs / 1000) for w in a.words]


def _print_table(summary: dict, loads: dict) -> None:
    head = f"{'config':<11} {'subset':<11} {'clips':>5} {'WER':>6} {'start mean':>10} {'p90':>6} {'end mean':>9} {'p90':>6} {'<=100ms':>8} {'RTF':>6} {'RTFcpu':>6}"
    print(head)
    print("-" * len(head))
    for c, per in summary.items():
        for s, m in per.items():
            print(f"{c:<11} {s:<11} {m['clips']:>5} {m['wer']:>6.1%} {m['start_mean']:>10.0f} {m['start_p90']:>6.0f} "
                  f"{m['end_mean']:>9.0f} {m['end_p90']:>6.0f} {m['within100']:>8.0%} {m['rtf']:>6.3f} {m['rtf_cpu']:>6.3f}")
    base = summary["fw raw"]["all"]
    best = summary["fw+ref+scr"]["all"]
    print(f"\nratios fw+ref+scr vs fw raw (all): start error x{best['start_mean'] / base['start_mean']:.2f}, "
          f"end error x{best['end_mean'] / base['end_mean']:.2f}, RTF x{best['rtf'] / base['rtf']:.2f}")
    print("RTF = wall seconds / audio seconds; RTFcpu = process CPU seconds / audio seconds (all threads), an upper bound\n"
          "for the wall RTF on 2 otherwise idle cores. Load average during this run: " + ", ".join(f"{x:.1f}" for x in os.getloadavg()))
    print("model load (s): " + ", ".join(f"{k} {v:.2f}" for k, v in loads.items()))


def _print_targets(per: dict) -> None:
    print("\ntargets for fw+ref+scr on every subset (start mean <= 40 ms, end mean <= 60 ms, >= 90% starts within 100 ms, RTF <= 0.12):")
    for s, m in per.items():
        checks = [m["start_mean"] <= TARGETS["start_mean"], m["end_mean"] <= TARGETS["end_mean"],
                  m["within100"] >= TARGETS["within100"]]
        rtf_ok = m["rtf"] <= TARGETS["rtf"] or m["rtf_cpu"] <= TARGETS["rtf"]
        print(f"  {s:<11} accuracy {'MET' if all(checks) else 'MISSED'}, speed {'MET' if rtf_ok else 'MISSED'}: start {m['start_mean']:.0f} ms, "
              f"end {m['end_mean']:.0f} ms, {m['within100']:.0%} within 100 ms, RTF {m['rtf']:.3f} wall / {m['rtf_cpu']:.3f} cpu")


if __name__ == "__main__":
    sys.exit(main())
