/**
 * Timelines the worker builds pass the renderer's own checks: each is validated by the compute
 * plane's Timeline model and check_timeline (modal_functions/render/timeline.py, what answers 422
 * invalid_timeline), run in the repo's Python, not a copy of them.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { test } from "node:test";
import type { Caption, RenderRequest } from "../contract.ts";
import { buildTimeline, type BuiltTimeline } from "./timeline.ts";
import { PYTHON, REPO } from "../../test/support/computeServer.ts";

const CHECK = `
import json, sys
from modal_functions.contract.render import Timeline
from modal_functions.errors import CapabilityError
from modal_functions.render.timeline import check_timeline
try:
    check_timeline(Timeline.model_validate(json.load(sys.stdin)))
    print("ok")
except CapabilityError as e:
    print(f"{e.code}: {e}")
`;

/** "ok", or what the renderer would answer (422 invalid_timeline: ...). */
function rendererVerdict(t: BuiltTimeline): string {
  return execFileSync(PYTHON, ["-c", CHECK], { cwd: REPO, input: JSON.stringify(t), encoding: "utf8" }).trim();
}

const IMAGE = "artifacts/sha256/bb/" + "b".repeat(64) + ".png";
const REQ: RenderRequest = {
  narration_audio: "artifacts/sha256/aa/" + "a".repeat(64) + ".wav",
  scenes: [{ narration: "Tides rise.", image: IMAGE }, { narration: "Gravity wins.", image: IMAGE }],
  fps: 30,
};
const cap = (text: string, startMs: number, endMs: number): Caption => ({ text, startMs, endMs, timestampMs: Math.round((startMs + endMs) * 5) / 10, confidence: 0.9 });

test("a last word the aligner clamped to the audio's end is inside the timeline (16004 samples: 1000.3 ms vs 1000.2 ms)", () => {
  // What transcribe_audio answers for 16004 samples at 16 kHz when speech runs to the end: the
  // last word is clamped to the audio's length in seconds and rounded as round(s * 1000, 1) =
  // 1000.3, while duration_ms is round(samples / 16, 1) = 1000.2 (modal_functions/align).
  const words = [cap("Tides", 20, 200), cap(" rise.", 200, 450), cap(" Gravity", 500, 800), cap(" wins.", 800, 1000.3)];
  const t = buildTimeline(REQ, null, { words, duration_ms: 1000.2 });
  assert.equal(rendererVerdict(t), "ok");
  assert.equal(t.captions.at(-1)!.endMs, 1000.2);
  assert.deepEqual(t.captions.slice(0, -1), words.slice(0, -1), "words inside the audio are the alignment's, unchanged");
});

test("a blank title is left out, not sent for the renderer to refuse", () => {
  const words = [cap("Tides", 20, 200), cap(" rise.", 200, 450), cap(" Gravity", 500, 800), cap(" wins.", 800, 950)];
  for (const title of ["   ", "\u3000", "\x1f", "\u0085"]) {
    const t = buildTimeline({ ...REQ, title }, null, { words, duration_ms: 1000.2 });
    assert.equal(rendererVerdict(t), "ok", JSON.stringify(title));
    assert.equal(t.title, undefined);
  }
  assert.equal(buildTimeline({ ...REQ, title: " Tides " }, null, { words, duration_ms: 1000.2 }).title, " Tides ");
});
