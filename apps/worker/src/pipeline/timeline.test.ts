import assert from "node:assert/strict";
import { test } from "node:test";
import type { Caption, RenderRequest } from "../contract.ts";
import { toJobError } from "./errors.ts";
import { scriptWords } from "./scriptWords.ts";
import { buildTimeline, sceneFirstWords, scriptOf, TimelineError } from "./timeline.ts";

const cap = (text: string, startMs: number, endMs: number): Caption => ({ text, startMs, endMs });
const REQ: RenderRequest = {
  narration_audio: "artifacts/sha256/aa/" + "a".repeat(64) + ".wav",
  scenes: [
    { narration: "Tides rise twice a day.", image_prompt: "ocean" },
    { narration: "The moon pulls — the water.", image: "artifacts/sha256/bb/" + "b".repeat(64) + ".png" },
    { narration: "Gravity wins.", image_prompt: "earth" },
  ],
  fps: 30,
};
const WORDS = [
  cap("Tides", 120, 400), cap(" rise", 400, 700), cap(" twice", 700, 1000), cap(" a", 1000, 1100), cap(" day.", 1100, 1500),
  cap(" The", 1800, 1900), cap(" moon", 1900, 2200), cap(" pulls", 2200, 2500), cap(" the", 2500, 2600), cap(" water.", 2600, 3000),
  cap(" Gravity", 3300, 3800), cap(" wins.", 3800, 4200),
];
const IMAGES = {
  images: [
    { index: 0, status: "ok", artifact: { key: "artifacts/sha256/cc/" + "c".repeat(64) + ".png" } },
    { index: 1, status: "placeholder", artifact: { key: "artifacts/sha256/dd/" + "d".repeat(64) + ".png" } },
  ],
  degraded: true,
};

test("script words: punctuation-only tokens ride with the word before, like the aligner", () => {
  assert.deepEqual(scriptWords("The moon pulls — the water."), ["The", "moon", "pulls —", "the", "water."]);
  assert.equal(scriptOf(REQ), "Tides rise twice a day.\nThe moon pulls — the water.\nGravity wins.");
});

test("scene i runs from its first aligned word to scene i+1's; the last to the end of the audio", () => {
  const t = buildTimeline(REQ, IMAGES, { words: WORDS, duration_ms: 4800 });
  assert.deepEqual(t.scenes.map((s) => [s.startMs, s.endMs]), [[0, 1800], [1800, 3300], [3300, 4800]]);
  assert.equal(t.durationMs, 4800);
});

test("captions are the alignment's Caption words, unchanged", () => {
  const t = buildTimeline(REQ, IMAGES, { words: WORDS, duration_ms: 4800 });
  assert.deepEqual(t.captions, WORDS);
  assert.equal(t.narration, REQ.narration_audio);
});

test("generated images fill prompt scenes in order; given images pass through", () => {
  const t = buildTimeline(REQ, IMAGES, { words: WORDS, duration_ms: 4800 });
  assert.deepEqual(t.scenes.map((s) => s.image[18]), ["c", "b", "d"]);
  assert.equal(t.degraded, true, "a placeholder image marks the video degraded");
});

test("when the aligner returns other words, scenes are found by sequence alignment", () => {
  const recognised = [cap("tides", 100, 400), cap(" rise", 400, 700), cap(" twice", 700, 1000), cap(" day", 1100, 1500),
    cap(" the", 1800, 1900), cap(" moon", 1900, 2200), cap(" pools", 2200, 2500), cap(" water", 2600, 3000),
    cap(" gravity", 3300, 3800), cap(" wins", 3800, 4200)];
  assert.deepEqual(sceneFirstWords(REQ.scenes.map((s) => s.narration), recognised), [0, 4, 8]);
});

test("scenes out of order are a timeline error, not a crash", () => {
  const bad = WORDS.map((w, i) => (i === 10 ? { ...w, startMs: 1000 } : w));
  assert.throws(() => buildTimeline(REQ, IMAGES, { words: bad, duration_ms: 4800 }), /scene 2 starts/);
  assert.throws(() => buildTimeline(REQ, IMAGES, { words: [], duration_ms: 4800 }), /no words/);
});

test("narrations in other scripts find their scenes: Cyrillic words, and each Chinese character a word", () => {
  const two = (a: string, b: string): RenderRequest => ({ ...REQ, scenes: [{ narration: a, image_prompt: "x" }, { narration: b, image_prompt: "y" }] });
  // Before, words of no Latin letter did not count, every scene started at 0 and the timeline failed.
  const ru = two("Луна притягивает воду.", "Приливы дважды в день!");
  const ruWords = ["Луна", " притягивает", " воду.", " Приливы", " дважды", " в", " день!"].map((t, i) => cap(t, 200 + 400 * i, 500 + 400 * i));
  assert.deepEqual(sceneFirstWords(ru.scenes.map((s) => s.narration), ruWords), [0, 3]);
  const images = { images: [0, 1].map((index) => ({ index, status: "ok", artifact: { key: "artifacts/sha256/cc/" + "c".repeat(64) + ".png" } })), degraded: false };
  assert.deepEqual(buildTimeline(ru, images, { words: ruWords, duration_ms: 3200 }).scenes.map((s) => s.startMs), [0, 1400]);

  const zh = two("潮汐是由月球引起的。", "每天两次！");
  const zhWords = [..."潮汐是由月球引起的", ..."每天两次"].map((t, i) => cap(t, 100 + 250 * i, 350 + 250 * i));
  assert.deepEqual(sceneFirstWords(zh.scenes.map((s) => s.narration), zhWords), [0, 9]);
  // the aligner fell back to Whisper's own words (a few characters each): found by sequence alignment
  const heard = [cap("潮汐", 100, 600), cap("是由月球", 600, 1500), cap("引起的", 1500, 2300), cap("每天", 2400, 2900), cap("两次", 2900, 3400)];
  assert.deepEqual(sceneFirstWords(zh.scenes.map((s) => s.narration), heard), [0, 3]);
});

test("a scene whose narration has no words is a timeline error naming it (not retried), last scene or middle", () => {
  // The API refuses such a scene; a row inserted directly may still hold one. As the last
  // scene it read past the aligned words (a TypeError: "internal", retried until dead); in the
  // middle it read as a scene starting "not after" the one before.
  const scenes = (...narrations: [string, ...string[]]): RenderRequest => ({ ...REQ, scenes: narrations.map((narration) => ({ narration, image: REQ.scenes[1]!.image! })) as RenderRequest["scenes"] });
  const moon = ["The", " moon", " pulls", " the", " sea."].map((t, i) => cap(t, i * 300, i * 300 + 250));
  const gravity = [...moon, cap(" Gravity", 1800, 2200), cap(" wins.", 2200, 2600)];
  for (const [req, words] of [
    [scenes("The moon pulls the sea.", "🌊🌊🌊"), moon],
    [scenes("The moon pulls the sea.", "🌊 — 🌊", "Gravity wins."), gravity],
  ] as const) {
    assert.throws(() => buildTimeline(req, null, { words: [...words], duration_ms: 3000 }), (e: unknown) => {
      assert.ok(e instanceof TimelineError, String(e));
      assert.match(e.message, /^scene 1's narration has no words/);
      assert.deepEqual(toJobError(e), { code: "timeline_failed", message: e.message, retryable: false });
      return true;
    });
  }
});
