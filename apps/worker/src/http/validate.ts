/**
 * RenderRequest validation against the contract's JSON Schema (generated from pydantic, so
 * the worker and the compute plane agree), plus the checks JSON Schema cannot say: each
 * scene has exactly one image source, and every reference is an artifact key or an https URL.
 * Problems come back as {code, message, details[]} for a 400.
 */
import { readFileSync } from "node:fs";
import Ajv2020Import from "ajv/dist/2020.js";
import type { ErrorObject } from "ajv";
import type { RenderRequest } from "../contract.ts";
import { isArtifactKey } from "../storage/keys.ts";

const Ajv2020 = Ajv2020Import as unknown as typeof Ajv2020Import.default;
const SCHEMA_URL = new URL("../../../../packages/shared-types/schema/RenderRequest.json", import.meta.url);

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

function refProblem(path: string, value: string): Problem | null {
  if (isArtifactKey(value)) return null;
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

export function validateRenderRequest(body: unknown): RenderRequest {
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    throw new ValidationError("validation_error", "the body must be a JSON object (a RenderRequest)", []);
  }
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
    req.scenes.forEach((s, i) => {
      if (!s || typeof s !== "object") return;
      const hasPrompt = typeof s.image_prompt === "string";
      const hasImage = typeof s.image === "string";
      if (hasPrompt === hasImage) problems.push({ path: `/scenes/${i}`, code: "image_source", message: "each scene needs exactly one of image_prompt or image" });
      if (hasImage) {
        const p = refProblem(`/scenes/${i}/image`, s.image!);
        if (p) problems.push(p);
      }
      if (typeof s.narration === "string" && !s.narration.trim()) problems.push({ path: `/scenes/${i}/narration`, code: "too_short", message: "narration is blank" });
    });
  }
  for (const field of ["narration_audio", "music"] as const) {
    const val = req[field];
    if (typeof val === "string") {
      const p = refProblem(`/${field}`, val);
      if (p) problems.push(p);
    }
  }
  if (problems.length) {
    // Collapse the noise of anyOf branches: keep one problem per path+code.
    const seen = new Set<string>();
    const details = problems.filter((p) => (seen.has(p.path + p.code) ? false : (seen.add(p.path + p.code), true)));
    const first = details[0]!;
    throw new ValidationError(first.code, `${first.path}: ${first.message}${details.length > 1 ? ` (+${details.length - 1} more)` : ""}`, details);
  }
  return req;
}
