/**
 * Render request + step outputs -> the Timeline the render capability takes. Pure.
 *
 * Scene i runs from the aligned start of its first narration word to the aligned start of
 * scene i+1's first word; the last scene runs to the end of the audio. The first scene also
 * covers any lead-in silence (it starts at 0, so the video never opens on black). Captions
 * are the alignment's `Caption` words, unchanged but for a word ending past the audio (below).
 *
 * Words are counted like the aligner counts script words (`scriptWords.ts`: whitespace tokens
 * with a letter or digit of any script, each Chinese or Japanese character a word), so with
 * script alignment word k of the script is caption k.
 * When the counts differ (the aligner fell back to recognised words), a sequence alignment
 * of normalised words finds each scene's first word.
 */
import type { ArtifactRef, Caption, RenderRequest } from "../contract.ts";
import { scriptWords } from "./scriptWords.ts";

export interface ImagesOutput {
  images: Array<{ index: number; status: string; artifact?: { key: string } | null; error?: { code: string; message: string } | null }>;
  degraded?: boolean;
}
export interface AlignOutput {
  words: Caption[];
  duration_ms: number;
  flagged?: boolean;
  /** The caption files (transcribe_audio's artifacts), published beside the video. */
  srt?: ArtifactRef;
  vtt?: ArtifactRef;
}

export interface TimelineScene {
  image: string;
  startMs: number;
  endMs: number;
}
export interface BuiltTimeline {
  aspectRatio: "16:9" | "9:16" | "1:1";
  resolution: number;
  fps: number;
  durationMs: number;
  title?: string;
  scenes: TimelineScene[];
  narration: string;
  captions: Caption[];
  music?: string;
  musicVolume: number;
  degraded: boolean;
}

export class TimelineError extends Error {
  override readonly name = "TimelineError";
  readonly code = "timeline_failed";
  readonly retryable = false;
}

/** Letters and digits of any script, lowercased, accents dropped: what two spellings of a word share. */
export function normalise(word: string): string {
  return word.normalize("NFKD").replace(/\p{Mn}/gu, "").toLowerCase().replace(/[^\p{L}\p{N}\p{Mc}']/gu, "").replace(/^'+|'+$/g, "");
}

/** The narration script sent to the aligner: scenes in order, one per line. */
export function scriptOf(req: Pick<RenderRequest, "scenes">): string {
  return req.scenes.map((s) => s.narration.trim()).join("\n");
}

/** Index into `words` of each scene's first narration word. */
export function sceneFirstWords(narrations: string[], words: Caption[]): number[] {
  const perScene = narrations.map((n) => scriptWords(n));
  const script = perScene.flat();
  const firsts: number[] = [];
  let k = 0;
  for (const s of perScene) {
    firsts.push(k);
    k += s.length;
  }
  if (script.length === words.length) return firsts;
  // Counts differ: align normalised words (LCS) and map each script index to a caption index.
  const a = script.map(normalise);
  const b = words.map((w) => normalise(w.text));
  const n = a.length;
  const m = b.length;
  const dp: Uint32Array[] = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      dp[i]![j] = a[i] === b[j] ? dp[i + 1]![j + 1]! + 1 : Math.max(dp[i + 1]![j]!, dp[i]![j + 1]!);
    }
  }
  const map = new Array<number>(n).fill(-1);
  for (let i = 0, j = 0; i < n && j < m; ) {
    if (a[i] === b[j]) map[i++] = j++;
    else if (dp[i + 1]![j]! >= dp[i]![j + 1]!) i++;
    else j++;
  }
  return firsts.map((f) => {
    for (let i = f; i < n; i++) if (map[i]! >= 0) return map[i]!;
    return Math.min(m - 1, Math.round((f / Math.max(1, n)) * m));
  });
}

export function buildTimeline(req: RenderRequest, images: ImagesOutput | null, align: AlignOutput): BuiltTimeline {
  if (!align.words.length) throw new TimelineError("the alignment found no words in the narration");
  const fps = req.fps ?? 30;
  const frameMs = 1000 / fps;
  const duration = align.duration_ms;
  const narrations = req.scenes.map((s) => s.narration);
  // A scene starts at its first narration word: one without a word (emoji or punctuation
  // only; the API refuses it, a row inserted directly may hold it) has no start to find.
  const wordless = narrations.findIndex((n) => scriptWords(n).length === 0);
  if (wordless >= 0) {
    throw new TimelineError(`scene ${wordless}'s narration has no words (a word needs a letter or digit), so where the scene starts in the narration audio cannot be found`);
  }
  const firsts = sceneFirstWords(narrations, align.words);
  const starts = firsts.map((w, i) => {
    if (i === 0) return 0;
    const word = align.words[w];
    if (!word) throw new TimelineError(`scene ${i}'s first word (word ${w}) is not among the ${align.words.length} aligned words`);
    return word.startMs;
  });
  for (let i = 1; i < starts.length; i++) {
    if (starts[i]! < starts[i - 1]! + frameMs) {
      throw new TimelineError(`scene ${i} starts at ${starts[i]} ms, not after scene ${i - 1} (${starts[i - 1]} ms)`);
    }
  }
  if (duration < starts[starts.length - 1]! + frameMs) throw new TimelineError("the last scene starts after the audio ends");

  // Images: generated ones in prompt order, ready ones as given.
  const generated = new Map<number, string>();
  let g = 0;
  const promptIndexOfScene: number[] = [];
  req.scenes.forEach((s, i) => {
    if (s.image_prompt) promptIndexOfScene[i] = g++;
  });
  for (const item of images?.images ?? []) {
    if (item.artifact?.key && item.status !== "failed") generated.set(item.index, item.artifact.key);
  }
  const scenes = req.scenes.map((s, i) => {
    const image = s.image ?? generated.get(promptIndexOfScene[i]!);
    if (!image) throw new TimelineError(`scene ${i} has no image`);
    return { image, startMs: round1(starts[i]!), endMs: round1(i + 1 < starts.length ? starts[i + 1]! : duration) };
  });
  const durationMs = round1(duration);
  const t: BuiltTimeline = {
    aspectRatio: req.aspect_ratio ?? "16:9",
    resolution: req.height ?? 720,
    fps,
    durationMs,
    scenes,
    narration: req.narration_audio,
    captions: align.words.map((w) => within(w, durationMs)),
    musicVolume: req.music_volume ?? 0.25,
    degraded: Boolean(images?.degraded) || Boolean(align.flagged),
  };
  // The renderer refuses a blank title (422: "leave it out for no title card"); the request
  // allows one. Blank as Python's str.strip() sees it: \s plus U+001C-U+001F and U+0085.
  if (req.title && !/^[\s\x1c-\x1f\x85]*$/.test(req.title)) t.title = req.title;
  if (req.music) t.music = req.music;
  return t;
}

const round1 = (x: number) => Math.round(x * 10) / 10;

/**
 * A caption held inside the audio, which the renderer requires of every word (422 otherwise).
 * The aligner clamps a word to the audio's end, but rounds the word's end from seconds and
 * duration_ms from samples: for some lengths (16004 samples) the last word ends 0.1 ms after
 * duration_ms.
 */
function within(w: Caption, durationMs: number): Caption {
  if (w.endMs <= durationMs) return w;
  const c = { ...w, startMs: Math.min(w.startMs, durationMs), endMs: durationMs };
  if (c.timestampMs != null) c.timestampMs = Math.min(c.timestampMs, durationMs);
  return c;
}
