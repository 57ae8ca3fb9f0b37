/**
 * Reads the caption word on screen: at time t, find the highlighted word's box (the
 * composition paints the active word on #FFD400), crop it and OCR it with tesseract.
 * Used to check a rendered MP4's captions against the alignment, not by eye.
 */
import { execFileSync } from "node:child_process";
import type { Caption } from "../../src/contract.ts";
import { normalise } from "../../src/pipeline/timeline.ts";

export interface Probe {
  width: number;
  height: number;
}

export function probe(mp4: string): Probe {
  const out = execFileSync("ffprobe", ["-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height", "-of", "csv=p=0", mp4], { encoding: "utf8" });
  const [w, h] = out.trim().split(",").map(Number);
  return { width: w!, height: h! };
}

function frameRgb(mp4: string, tMs: number, p: Probe): Buffer {
  return execFileSync("ffmpeg", ["-v", "error", "-ss", (tMs / 1000).toFixed(3), "-i", mp4, "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"], { maxBuffer: p.width * p.height * 3 + 1024 });
}

/** Bounding box of highlight-yellow pixels (R>220, G>180, B<60) in the lower 45% of the frame. */
export function highlightBox(rgb: Buffer, p: Probe): { x: number; y: number; w: number; h: number } | null {
  let x0 = p.width, y0 = p.height, x1 = -1, y1 = -1, n = 0;
  for (let y = Math.floor(p.height * 0.55); y < p.height; y++) {
    for (let x = 0; x < p.width; x++) {
      const i = (y * p.width + x) * 3;
      if (rgb[i]! > 220 && rgb[i + 1]! > 180 && rgb[i + 2]! < 60) {
        n++;
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
    }
  }
  if (n < 30) return null;
  return { x: x0, y: y0, w: x1 - x0 + 1, h: y1 - y0 + 1 };
}

export function ocrWordAt(mp4: string, tMs: number, p: Probe): string | null {
  const box = highlightBox(frameRgb(mp4, tMs, p), p);
  if (!box) return null;
  const png = execFileSync("ffmpeg", [
    "-v", "error", "-ss", (tMs / 1000).toFixed(3), "-i", mp4, "-frames:v", "1",
    "-vf", `crop=${box.w}:${box.h}:${box.x}:${box.y},scale=iw*4:ih*4:flags=lanczos,format=gray,pad=iw+40:ih+40:20:20:color=white`,
    "-f", "image2", "-c:v", "png", "pipe:1",
  ]);
  return execFileSync("tesseract", ["stdin", "stdout", "--psm", "7", "-l", "eng"], { input: png, encoding: "utf8", stdio: ["pipe", "pipe", "ignore"] }).trim();
}

export interface CaptionSample {
  tMs: number;
  expected: string;
  seen: string | null;
  ok: boolean;
}

/** Sample `n` words spread over the video (each shown >= 200 ms) and read them back. */
export function checkCaptions(mp4: string, words: Caption[], n = 8): CaptionSample[] {
  const p = probe(mp4);
  const candidates = words.filter((w) => w.endMs - w.startMs >= 200 && normalise(w.text).length >= 3);
  const picks = Array.from({ length: Math.min(n, candidates.length) }, (_, i) => candidates[Math.floor(((i + 0.5) * candidates.length) / n)]!);
  return picks.map((w) => {
    const tMs = (w.startMs + w.endMs) / 2;
    const seen = ocrWordAt(mp4, tMs, p);
    const expected = normalise(w.text);
    return { tMs, expected, seen, ok: seen !== null && normalise(seen) === expected };
  });
}
