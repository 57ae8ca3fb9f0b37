/**
 * RenderRequest validation against the contract's JSON Schema (generated from pydantic, so
 * the worker and the compute plane agree), plus the checks JSON Schema cannot say: each
 * scene has exactly one image source, every reference is an artifact key or an https URL,
 * a published-render key (`renders/<owner>/…`) is the caller's own, and nothing the compute
 * plane would refuse mid-render (too many prompts, blank ones) gets through.
 * Problems come back as {code, message, details[]} for a 400.
 */
import { readFileSync } from "node:fs";
import Ajv2020Import from "ajv/dist/2020.js";
import type { ErrorObject } from "ajv";
import type { RenderRequest } from "../contract.ts";
import { scriptWords } from "../pipeline/scriptWords.ts";
import { scriptOf } from "../pipeline/timeline.ts";
import { isArtifactKey, parseKey } from "../storage/keys.ts";
import { isReservedOwner } from "./auth.ts";

const Ajv2020 = Ajv2020Import as unknown as typeof Ajv2020Import.default;
const schemaUrl = (name: string) => new URL(`../../../../packages/shared-types/schema/${name}.json`, import.meta.url);
const SCHEMA_URL = schemaUrl("RenderRequest");

export interface Problem {
  path: string;
  code: string;
  message: string;
}

export class ValidationError extends Error {
  override readonly name = "ValidationError";
  constructor(readonly code: string, message: string, readonly details: Problem[]) {
    super(message);
  }
}

let compiled: ((data: unknown) => boolean) & { errors?: ErrorObject[] | null } | null = null;
function validator() {
  if (!compiled) {
    const ajv = new Ajv2020({ allErrors: true, strict: false, useDefaults: true });
    compiled = ajv.compile(JSON.parse(readFileSync(SCHEMA_URL, "utf8")));
  }
  return compiled;
}

type JsonSchema = { maxLength?: number; maxItems?: number; anyOf?: JsonSchema[]; properties?: Record<string, JsonSchema> };

/** A bound the compute plane's own contract puts on what a render sends it (Infinity when the schema sets none). */
function contractBound(model: string, property: string, keyword: "maxLength" | "maxItems"): number {
  const prop = (JSON.parse(readFileSync(schemaUrl(model), "utf8")) as JsonSchema).properties?.[property];
  const bound = [prop, ...(prop?.anyOf ?? [])].map((s) => s?.[keyword]).find((v) => typeof v === "number");
  return bound ?? Infinity;
}

let bounds: { scriptChars: number; captions: number; prompts: number } | null = null;
/**
 * What the compute plane would refuse once the render is under way, read from the same
 * generated contract: the align step sends the whole narration script
 * (TranscribeAudioRequest.script, at most this many characters), and the render step a
 * Timeline whose captions are the script's words (Timeline.captions, at most this many);
 * the images step sends every scene's image_prompt in one request (GenerateImagesRequest.prompts).
 */
function computeBounds() {
  bounds ??= {
    scriptChars: contractBound("TranscribeAudioRequest", "script", "maxLength"),
    captions: contractBound("Timeline", "captions", "maxItems"),
    prompts: contractBound("GenerateImagesRequest", "prompts", "maxItems"),
  };
  return bounds;
}

/**
 * Whitespace as the compute plane strips it before its min_length (pydantic's
 * strip_whitespace: Unicode White_Space, so U+0085 and U+3000 but not U+001C..U+001F, and
 * not U+FEFF, which JavaScript's trim() and \s count). A prompt or `avoid` item of only
 * these would pass here and be a 422 at the images step, after the render was accepted.
 */
const BLANK = /^\p{White_Space}*$/u;

/**
 * `owner`: who the render runs as. A published render (`renders/<owner>/<id>.<ext>`) is read
 * by the compute plane straight from the store, with the service role: naming another
 * owner's key would hand the caller that owner's video (or its audio, or a transcript of
 * it), with no signed URL and no expiry. Only the caller's own are accepted; with no owner
 * to check against, none are. A reserved owner's keys (renders/image-cache/: the compute
 * plane's image cache) are no caller's, even a render row inserted with that owner.
 */
function refProblem(path: string, value: string, owner: string | null): Problem | null {
  if (isArtifactKey(value)) {
    const key = parseKey(value);
    if (key.kind === "renders" && (key.owner !== owner || isReservedOwner(key.owner))) {
      return { path, code: "foreign_reference", message: "a renders/<owner>/… key must name one of the caller's own renders" };
    }
    return null;
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return { path, code: "invalid_reference", message: "must be an artifact key (artifacts/sha256/<aa>/<hash>.<ext>) or an https URL" };
  }
  if (url.protocol !== "https:") return { path, code: "unsafe_url", message: "only https URLs are fetched" };
  if (url.username || url.password) return { path, code: "unsafe_url", message: "URLs must not carry credentials" };
  return null;
}

const AJV_CODES: Record<string, string> = {
  required: "missing_field", additionalProperties: "unknown_field", type: "wrong_type", enum: "invalid_value",
  minLength: "too_short", maxLength: "too_long", minItems: "too_few", maxItems: "too_many", pattern: "invalid_format",
  minimum: "out_of_range", maximum: "out_of_range", anyOf: "wrong_type",
};

/** Deeper than any RenderRequest (3 levels) by a margin; deeper bodies are refused before any recursion. */
const MAX_DEPTH = 16;
/** At most this many problems go back in `details` (the message still counts them all). */
export const MAX_DETAILS = 20;
// Postgres text/jsonb cannot hold NUL, nor an unpaired UTF-16 surrogate (JSON.parse accepts both).
const BAD_TEXT = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const pointer = (path: string, key: string | number) => `${path}/${String(key).replace(/~/g, "~0").replace(/\//g, "~1")}`;

/**
 * What the JSON Schema cannot see, checked without recursion: nesting deep enough to
 * overflow the stack of structuredClone (a 400, not a RangeError's 500), and strings or keys
 * the database would refuse (a 400, not a 500 from jsonb).
 */
function shapeProblems(body: object): Problem[] {
  const out: Problem[] = [];
  const stack: Array<[unknown, string, number]> = [[body, "", 0]];
  while (stack.length && out.length < MAX_DETAILS) {
    const [v, path, depth] = stack.pop()!;
    if (typeof v === "string") {
      if (BAD_TEXT.test(v)) out.push({ path: path || "/", code: "invalid_text", message: "contains a NUL character or an unpaired surrogate" });
    } else if (v && typeof v === "object") {
      if (depth >= MAX_DEPTH) {
        out.push({ path: path || "/", code: "too_deep", message: `nested deeper than ${MAX_DEPTH} levels` });
        continue;
      }
      for (const [k, child] of Object.entries(v)) {
        const p = pointer(path, k);
        if (BAD_TEXT.test(k)) out.push({ path: p, code: "invalid_text", message: "the key contains a NUL character or an unpaired surrogate" });
        stack.push([child, p, depth + 1]);
      }
    }
  }
  return out;
}

function reject(problems: Problem[]): never {
  // Collapse the noise of anyOf branches: keep one problem per path+code.
  const seen = new Set<string>();
  const unique = problems.filter((p) => (seen.has(p.path + p.code) ? false : (seen.add(p.path + p.code), true)));
  const first = unique[0]!;
  // Capped: a 1 MB body of wrong items would otherwise answer with ~30 MB of details.
  throw new ValidationError(first.code, `${first.path}: ${first.message}${unique.length > 1 ? ` (+${unique.length - 1} more)` : ""}`, unique.slice(0, MAX_DETAILS));
}

/** `owner`: the caller the render runs as (see refProblem); null accepts no renders/ key. */
export function validateRenderRequest(body: unknown, owner: string | null = null): RenderRequest {
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    throw new ValidationError("validation_error", "the body must be a JSON object (a RenderRequest)", []);
  }
  const shape = shapeProblems(body);
  if (shape.length) reject(shape);
  const copy = structuredClone(body) as Record<string, unknown>;
  const v = validator();
  const problems: Problem[] = [];
  if (!v(copy)) {
    for (const e of v.errors ?? []) {
      const extra = e.keyword === "additionalProperties" ? `/${(e.params as { additionalProperty: string }).additionalProperty}` : "";
      const missing = e.keyword === "required" ? `/${(e.params as { missingProperty: string }).missingProperty}` : "";
      problems.push({ path: (e.instancePath || "") + extra + missing || "/", code: AJV_CODES[e.keyword] ?? "validation_error", message: e.message ?? e.keyword });
    }
  }
  const req = copy as unknown as RenderRequest;
  if (Array.isArray(req.scenes)) {
    let words = 0;
    let prompts = 0;
    req.scenes.forEach((s, i) => {
      if (!s || typeof s !== "object") return;
      const hasPrompt = typeof s.image_prompt === "string";
      const hasImage = typeof s.image === "string";
      if (hasPrompt === hasImage) problems.push({ path: `/scenes/${i}`, code: "image_source", message: "each scene needs exactly one of image_prompt or image" });
      if (hasImage) {
        const p = refProblem(`/scenes/${i}/image`, s.image!, owner);
        if (p) problems.push(p);
      }
      if (hasPrompt) {
        prompts += 1;
        if (s.image_prompt && BLANK.test(s.image_prompt)) problems.push({ path: `/scenes/${i}/image_prompt`, code: "too_short", message: "image_prompt is blank (whitespace only)" });
      }
      if (typeof s.narration === "string") {
        // Each scene starts at its narration's first word in the aligned audio: a scene without
        // one (emoji or punctuation only) has no start to find, and would fail every attempt.
        const n = scriptWords(s.narration).length;
        words += n;
        if (!s.narration.trim()) problems.push({ path: `/scenes/${i}/narration`, code: "too_short", message: "narration is blank" });
        else if (n === 0) {
          problems.push({ path: `/scenes/${i}/narration`, code: "too_short", message: "narration has no words (a word needs a letter or digit; emoji and punctuation alone are not words)" });
        }
      }
    });
    if (req.scenes.every((s) => s && typeof s === "object" && typeof s.narration === "string")) {
      // Refused here, not by the compute plane after the images were paid for.
      const { scriptChars, captions } = computeBounds();
      const script = scriptOf(req);
      const chars = [...script].length; // code points, as JSON Schema's maxLength (and pydantic) count
      if (chars > scriptChars) {
        problems.push({ path: "/scenes", code: "too_long", message: `the narration script (every scene's narration, one per line) is ${chars} characters; at most ${scriptChars}` });
      }
      if (words > captions) {
        problems.push({ path: "/scenes", code: "too_long", message: `the narrations have ${words} words in all; at most ${captions} (one caption each)` });
      }
    }
    const maxPrompts = computeBounds().prompts;
    if (prompts > maxPrompts) {
      // The images step generates them in one request, which the compute plane caps.
      problems.push({ path: "/scenes", code: "too_many", message: `${prompts} scenes have an image_prompt; at most ${maxPrompts} (give the others an image)` });
    }
  }
  const avoid: unknown = req.style && typeof req.style === "object" ? req.style.avoid : undefined;
  if (Array.isArray(avoid)) {
    avoid.forEach((a, i) => {
      if (typeof a === "string" && a && BLANK.test(a)) problems.push({ path: `/style/avoid/${i}`, code: "too_short", message: "blank (whitespace only)" });
    });
  }
  for (const field of ["narration_audio", "music"] as const) {
    const val = req[field];
    if (typeof val === "string") {
      const p = refProblem(`/${field}`, val, owner);
      if (p) problems.push(p);
    }
  }
  if (problems.length) reject(problems);
  return req;
}
