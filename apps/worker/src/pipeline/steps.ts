/**
 * The render pipeline as a map from step name to executor, each `(ctx) => Promise`:
 *
 *   images  (generate_images)  ┐ in parallel
 *   align   (transcribe_audio) ┘
 *   render  (render_video)     the timeline built from both
 *   publish                    verify sha256, copy to renders/<owner>/<id>.mp4, sign a URL
 *
 * Every promise is awaited; outputs persist per step, so a retry resumes after the last
 * finished step and a render failure never regenerates the images.
 */
import type { ArtifactRef, RenderRequest } from "../contract.ts";
import { retryStatement, saveHeldStep, setProgress } from "../queue/index.ts";
import { saveOwnStep } from "./saveOwnStep.ts";
import { runComputeStep } from "./computeStep.ts";
import { failedForGood, RenderAborted, StepError, toJobError } from "./errors.ts";
import { buildTimeline, scriptOf, type AlignOutput, type ImagesOutput } from "./timeline.ts";
import type { RenderContext } from "./types.ts";

type Req = RenderRequest;

export async function imagesStep(ctx: RenderContext): Promise<ImagesOutput | null> {
  const req = ctx.render.request as Req;
  const prompts = req.scenes.flatMap((s) => (s.image_prompt ? [s.image_prompt] : []));
  if (!prompts.length) return null;
  const out = await runComputeStep(ctx, "images", "generate_images", () => ({
    prompts,
    style: { ...(req.style ?? {}), aspect_ratio: req.aspect_ratio ?? "16:9" },
  }));
  const images = out as unknown as ImagesOutput;
  const failed = images.images.filter((i) => i.status === "failed" || !i.artifact);
  if (failed.length) {
    // The compute plane already spent the upstream retries on each prompt (docs/retry-layering.md),
    // so the render is not re-run for them: that would multiply Google calls per image.
    const first = failed.find((i) => i.error)?.error;
    const message = `${failed.length} of ${images.images.length} images failed${first ? ` (first: ${first.code}: ${first.message})` : ""}`;
    await saveOwnStep(ctx, "images", { status: "failed", error: { code: "no_image", message, retryable: false } });
    throw new StepError("images", { code: "no_image", message, retryable: false });
  }
  return images;
}

/** The transcribe_audio input. The model is chosen here (`ALIGN_MODEL`), never by the
 * router, so caption timing does not depend on which backend ran. */
export function alignInput(req: Req, model?: string): Record<string, unknown> {
  return {
    audio: req.narration_audio,
    script: scriptOf(req),
    language: req.language ?? "en",
    ...(model ? { model } : {}),
  };
}

export async function alignStep(ctx: RenderContext): Promise<AlignOutput> {
  const req = ctx.render.request as Req;
  const out = await runComputeStep(ctx, "align", "transcribe_audio", () => alignInput(req, ctx.deps.alignModel));
  return out as unknown as AlignOutput;
}

export async function renderStep(ctx: RenderContext, images: ImagesOutput | null, align: AlignOutput): Promise<{ video: ArtifactRef; durationMs: number; degraded?: boolean }> {
  const req = ctx.render.request as Req;
  const timeline = buildTimeline(req, images, align);
  const out = await runComputeStep(ctx, "render", "render_video", () => ({ timeline }));
  return out as unknown as { video: ArtifactRef; durationMs: number; degraded?: boolean };
}

type Signed = ArtifactRef & { url: string };
export interface Published {
  video: Signed;
  /** The alignment's SRT and WebVTT, beside the video; absent when the align step had none. */
  subtitles?: { srt: Signed; vtt: Signed };
}
/** What the publish step records: the video's ref, plus the caption files' once published. */
type PublishRecord = ArtifactRef & { subtitles?: { srt: ArtifactRef; vtt: ArtifactRef } };

export async function publishStep(ctx: RenderContext, rendered: { video: ArtifactRef }, align?: AlignOutput): Promise<Published> {
  const { db, publisher, workerId } = ctx.deps;
  const prev = ctx.steps.get("publish");
  if (prev?.status === "succeeded" && prev.output) {
    // Already copied: only the signed URLs are renewed.
    const { subtitles, ...video } = prev.output as unknown as PublishRecord;
    const sign = async (ref: ArtifactRef): Promise<Signed> => ({ ...ref, url: await publisher.signedUrl(ref.key) });
    if (!subtitles) return { video: await sign(video) };
    const [v, srt, vtt] = await Promise.all([sign(video), sign(subtitles.srt), sign(subtitles.vtt)]);
    return { video: v, subtitles: { srt, vtt } };
  }
  // A render already seen cancelled (or lost to another worker) publishes nothing: copied, its
  // MP4 would sit under the owner's name until the refused completion removed it. A shutdown
  // lets the publish finish: it is short, and the render completes instead of running again.
  const stopIfOver = () => {
    const why: unknown = ctx.signal.reason;
    if (ctx.signal.aborted && why instanceof RenderAborted && why.reason !== "shutdown") throw why;
  };
  stopIfOver();
  const attempt = prev ? prev.step_attempt + (prev.status === "failed" ? 1 : 0) : 1;
  await saveOwnStep(ctx, "publish", { status: "running", step_attempt: attempt, started_at: new Date(), error: null });
  await setProgress(db, ctx.render.id, workerId, "publish", { status: "running", message: "verifying and publishing" });
  let video: Signed;
  let subtitles: { srt: Signed; vtt: Signed } | undefined;
  // Each copy starts only while the render is still to be published: a cancel seen between
  // them stops the rest (the worker removes what was copied: `unpublishEnded`).
  const copy = (ref: ArtifactRef) => (stopIfOver(), publisher.publish(ref, ctx.render.owner, ctx.render.id));
  try {
    video = await copy(rendered.video);
    // Same checks and same key grammar as the video: renders/<owner>/<id>.srt and .vtt.
    subtitles = align?.srt && align.vtt ? { srt: await copy(align.srt), vtt: await copy(align.vtt) } : undefined;
  } catch (e) {
    if (e instanceof RenderAborted) throw e; // a stop, not a failed publish
    const err = e as { code?: string; message?: string; retryable?: boolean };
    const error = { code: err.code ?? "publish_failed", message: String(err.message ?? e), retryable: err.retryable ?? true };
    await saveOwnStep(ctx, "publish", { status: "failed", error, finished_at: new Date() });
    throw new StepError("publish", error);
  }
  // Outside the catch: a database blip from here on is not a failed publish. Recorded
  // `failed`, a step whose video is published would be run again, and on the last attempt
  // the render declared dead with its MP4 in storage.
  const unsigned = ({ url: _url, ...ref }: Signed): ArtifactRef => ref;
  const record: PublishRecord = { ...unsigned(video), ...(subtitles ? { subtitles: { srt: unsigned(subtitles.srt), vtt: unsigned(subtitles.vtt) } } : {}) };
  // Retried: unrecorded, the publish is done again next attempt, and on the last one the
  // render ends dead (its copies removed) for a blip.
  const saved = await retryStatement(() => saveHeldStep(db, ctx.render.id, workerId, "publish", { status: "succeeded", output: record as unknown as Record<string, unknown>, finished_at: new Date() }));
  if (!saved) throw new RenderAborted("lease_lost");
  await setProgress(db, ctx.render.id, workerId, "publish", { status: "succeeded", message: video.key });
  return { video, ...(subtitles ? { subtitles } : {}) };
}

/** One render attempt, start to finish. Returns what goes into render_jobs.result. */
export async function runPipeline(ctx: RenderContext): Promise<Record<string, unknown>> {
  // Both branches settle before the attempt ends (no orphaned poll loop); a non-retryable
  // failure of one cancels the other's compute job, since the render is over.
  const sibling = new AbortController();
  const follow = () => sibling.abort(ctx.signal.reason);
  if (ctx.signal.aborted) follow();
  else ctx.signal.addEventListener("abort", follow, { once: true });
  const sub: RenderContext = { ...ctx, signal: sibling.signal };
  let first: unknown = null;
  let final: unknown = null; // a branch's non-retryable failure: it ends the render even if a stop came first
  const guard = <T>(p: Promise<T>) => p.catch((e: unknown) => {
    if (final === null && failedForGood(e)) final = e;
    if (!sibling.signal.aborted) {
      first = e;
      // A branch that found the render cancelled (its job was cancelled by the owner's DELETE
      // before the heartbeat saw it) ends the other one the same way.
      if (e instanceof RenderAborted) sibling.abort(e);
      else if (!toJobError(e).retryable) sibling.abort(new RenderAborted("cancelled"));
    }
    throw e;
  });
  const [ri, ra] = await Promise.allSettled([guard(imagesStep(sub)), guard(alignStep(sub))]).finally(() => ctx.signal.removeEventListener("abort", follow));
  if (ri.status === "rejected" || ra.status === "rejected") {
    throw final ?? (ctx.signal.aborted ? ctx.signal.reason : first ?? (ri.status === "rejected" ? ri.reason : (ra as PromiseRejectedResult).reason));
  }
  const images = ri.value;
  const align = ra.value;
  const rendered = await renderStep(ctx, images, align);
  const { video, subtitles } = await publishStep(ctx, rendered, align);
  return {
    video,
    source: rendered.video,
    duration_ms: rendered.durationMs,
    captions: align.words.length,
    ...(subtitles ? { subtitles } : {}),
    degraded: Boolean(rendered.degraded || images?.degraded || align.flagged),
  };
}
