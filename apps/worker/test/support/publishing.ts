/**
 * What the worker's publish tests share: content-addressed artifact refs, a render with every
 * compute step done (only its publish left), and a publisher fake that keeps what it was asked
 * to copy in a set and takes out what it is asked to remove.
 */
import type { Db } from "../../src/db/db.ts";
import { enqueue, saveStep } from "../../src/queue/index.ts";
import type { Publisher } from "../../src/storage/publisher.ts";
import { SMALL_REQUEST } from "./migratedPglite.ts";

/** An artifact ref whose sha256 is `c` repeated (its key under artifacts/sha256/cc/...). */
export const artifactRef = (c: string, ext: string, contentType = "x") =>
  ({ key: `artifacts/sha256/${c}${c}/${c.repeat(64)}.${ext}`, sha256: c.repeat(64), size: 10, content_type: contentType });

/** The video the render step made. */
export const VIDEO = artifactRef("c", "mp4", "video/mp4");

/**
 * A render of `owner` (default "o") with its images, align (with an SRT and a VTT to publish
 * when `captions`) and render steps succeeded: only its publish is left. Every other queued or
 * running render is cancelled, so a worker claims this one.
 */
export async function renderedUpToPublish(db: Db, { maxAttempts, captions = false, owner = "o" }: { maxAttempts: number; captions?: boolean; owner?: string }): Promise<string> {
  const { row } = await enqueue(db, { owner, request: SMALL_REQUEST, maxAttempts });
  await db.query(`update render_jobs set status = 'cancelled' where id <> $1 and status in ('queued', 'running')`, [row.id]);
  const done = { status: "succeeded" as const, step_attempt: 1, finished_at: new Date() };
  await saveStep(db, row.id, "images", { ...done, output: { images: [{ index: 0, status: "succeeded", artifact: { key: `artifacts/sha256/bb/${"b".repeat(64)}.png` } }] } });
  const words = [{ text: "hello", startMs: 0, endMs: 400 }, { text: "world", startMs: 400, endMs: 900 }];
  await saveStep(db, row.id, "align", { ...done, output: { words, duration_ms: 1000, ...(captions ? { srt: artifactRef("d", "srt"), vtt: artifactRef("e", "vtt") } : {}) } });
  await saveStep(db, row.id, "render", { ...done, output: { video: VIDEO, durationMs: 1000 } });
  return row.id;
}

export interface PublisherHooks {
  /** Runs before each copy, given the file's extension and the render's id (to throw, cancel, block). */
  beforeCopy?: (ext: string, id: string) => Promise<void>;
  /** Runs before each removal (to block it). */
  beforeRemove?: () => Promise<void>;
}

/** A publisher over a set of keys: a copy adds `renders/<owner>/<id>.<ext>`, a removal takes keys out; URLs are signed.example. */
export function recordingPublisher(hooks: PublisherHooks = {}): { stored: Set<string>; publisher: Publisher } {
  const stored = new Set<string>();
  const publisher: Publisher = {
    kind: "local",
    async publish(source, owner, id) {
      const ext = source.key.split(".").pop()!;
      await hooks.beforeCopy?.(ext, id);
      const key = `renders/${owner}/${id}.${ext}`;
      stored.add(key);
      return { ...source, key, url: `https://signed.example/${key}` };
    },
    async signedUrl(key) {
      return `https://signed.example/${key}`;
    },
    async signedUrls(keys) {
      return keys.map((key) => ({ key, url: `https://signed.example/${key}` }));
    },
    async remove(keys) {
      await hooks.beforeRemove?.();
      for (const k of keys) stored.delete(k);
    },
  };
  return { stored, publisher };
}
