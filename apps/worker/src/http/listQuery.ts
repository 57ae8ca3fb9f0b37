/**
 * The query of `GET /v1/renders` (limit, cursor, status) and its opaque cursor. Anything
 * off is a ValidationError `invalid_query` (a 400 with one detail per bad parameter), so
 * no malformed value ever reaches SQL, where it would be a 500.
 */
import { RENDER_STATUSES, type ListPosition, type RenderStatus } from "../queue/index.ts";
import { MAX_DETAILS, ValidationError, type Problem } from "./validate.ts";

export const DEFAULT_LIMIT = 20;
export const MAX_LIMIT = 100;

export interface ListQuery {
  limit: number;
  after: ListPosition | null;
  statuses: RenderStatus[] | null;
}

const KNOWN = new Set(["limit", "cursor", "status"]);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
// What listRenders' to_char writes: UTC, microseconds.
const MICROS = /^([1-9]\d{3}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\.(\d{3})\d{3}Z$/;

/** The cursor after a row: base64url of [created_at to the microsecond, id]. */
export function encodeCursor(p: ListPosition): string {
  return Buffer.from(JSON.stringify([p.createdAt, p.id])).toString("base64url");
}

export function decodeCursor(cursor: string): ListPosition | null {
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(cursor)) return null;
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    return null;
  }
  if (!Array.isArray(v) || v.length !== 2 || typeof v[0] !== "string" || typeof v[1] !== "string") return null;
  const [createdAt, id] = v as [string, string];
  const m = MICROS.exec(createdAt);
  if (!m || !UUID.test(id)) return null;
  // A real calendar time (no 2026-02-30 or 24:00): Postgres would refuse the cast with a 500.
  const ms = new Date(`${m[1]}.${m[2]}Z`);
  if (Number.isNaN(ms.getTime()) || ms.toISOString() !== `${m[1]}.${m[2]}Z`) return null;
  return { createdAt, id };
}

/** One value per parameter: a repeated `limit` or `cursor` is a mistake, not a choice. */
function single(name: string, v: unknown, problems: Problem[]): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v === "string") return v;
  problems.push({ path: name, code: "repeated", message: `give ${name} once` });
  return undefined;
}

export function parseListQuery(query: unknown): ListQuery {
  const q = (query ?? {}) as Record<string, unknown>;
  const problems: Problem[] = [];
  for (const name of Object.keys(q)) {
    if (!KNOWN.has(name)) problems.push({ path: name, code: "unknown_parameter", message: "not a parameter of this list (limit, cursor, status)" });
  }

  let limit = DEFAULT_LIMIT;
  const rawLimit = single("limit", q.limit, problems);
  if (rawLimit !== undefined) {
    if (/^\d{1,3}$/.test(rawLimit) && Number(rawLimit) >= 1 && Number(rawLimit) <= MAX_LIMIT) limit = Number(rawLimit);
    else problems.push({ path: "limit", code: "out_of_range", message: `must be an integer from 1 to ${MAX_LIMIT}` });
  }

  let after: ListPosition | null = null;
  const rawCursor = single("cursor", q.cursor, problems);
  if (rawCursor !== undefined) {
    after = decodeCursor(rawCursor);
    if (!after) problems.push({ path: "cursor", code: "invalid_cursor", message: "not a cursor this API returned (pass next_cursor as it came)" });
  }

  let statuses: RenderStatus[] | null = null;
  if (q.status !== undefined) {
    // status=queued,running and status=queued&status=running both work.
    const parts = (Array.isArray(q.status) ? q.status : [q.status]).flatMap((s) => String(s).split(","));
    const bad = parts.filter((s) => !(RENDER_STATUSES as readonly string[]).includes(s));
    if (bad.length) problems.push({ path: "status", code: "invalid_value", message: `unknown status ${JSON.stringify(bad[0])}; one or more of ${RENDER_STATUSES.join(", ")}, comma-separated` });
    else statuses = [...new Set(parts as RenderStatus[])];
  }

  if (problems.length) {
    const first = problems[0]!;
    throw new ValidationError("invalid_query", `${first.path}: ${first.message}${problems.length > 1 ? ` (+${problems.length - 1} more)` : ""}`, problems.slice(0, MAX_DETAILS));
  }
  return { limit, after, statuses };
}
