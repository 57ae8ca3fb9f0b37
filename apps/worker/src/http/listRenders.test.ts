/**
 * GET /v1/renders on PGlite and on a real Postgres: keyset pages walk every render exactly
 * once (ties on created_at down to the microsecond, renders added between pages), stay
 * within the caller's renders, filter by status, answer in the contract's RenderList shape,
 * and refuse bad queries with 400 invalid_query.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import Ajv2020Import from "ajv/dist/2020.js";
import { ComputeClient } from "../client/modal-client.ts";
import type { Db } from "../db/db.ts";
import { migrate } from "../db/migrate.ts";
import { log } from "../log.ts";
import { Metrics } from "../metrics.ts";
import { RENDER_STATUSES } from "../queue/index.ts";
import { Router } from "../router/index.ts";
import { LocalPublisher } from "../storage/LocalPublisher.ts";
import { dbEngines } from "../../test/support/dbEngines.ts";
import { parseTokens } from "./auth.ts";
import { encodeCursor } from "./listQuery.ts";
import { buildApi } from "./server.ts";

const Ajv2020 = Ajv2020Import as unknown as typeof Ajv2020Import.default;
const schema = (name: string) => JSON.parse(readFileSync(new URL(`../../../../packages/shared-types/schema/${name}.json`, import.meta.url), "utf8"));
const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
const validRenderList = ajv.compile(schema("RenderList"));
const validRender = ajv.compile(schema("Render"));

const KEY = "artifacts/sha256/aa/" + "a".repeat(64) + ".wav";
const GOOD = { narration_audio: KEY, scenes: [{ narration: "Hello there.", image_prompt: "a hello" }] };
const T0 = "2026-01-01T00:00:00.000000Z";

interface Page { data: Array<Record<string, unknown> & { id: string; status: string }>; has_more: boolean; next_cursor: string | null }

const engines = dbEngines("cc_list");

for (const [engine, open] of engines) {
  describe(`GET /v1/renders on ${engine}`, () => {
    let db: Db;
    let done: () => Promise<void>;
    let base: string;
    let app: ReturnType<typeof buildApi>;
    const secret = "list-test-secret";
    before(async () => {
      ({ db, done } = await open());
      await migrate(db);
      const router = new Router({ inhouse: new ComputeClient({ name: "inhouse", baseUrl: "http://127.0.0.1:9" }) });
      const publisher = new LocalPublisher("/nonexistent-store", "http://compute.test", () => secret, 60);
      const tokens = parseTokens("tok-alice:alice,tok-bob:bob,tok-carol:carol,tok-dave:dave,tok-erin:erin");
      app = buildApi({ db, router, metrics: new Metrics(), log, tokens, publisher });
      base = await app.listen({ host: "127.0.0.1", port: 0 });
    });
    after(async () => {
      await app.close();
      await done();
    });

    const get = async (path: string, token = "tok-alice") => {
      const r = await fetch(base + path, { headers: { authorization: `Bearer ${token}` } });
      const text = await r.text();
      return { status: r.status, body: text ? JSON.parse(text) : null };
    };

    /** Insert renders directly, at a chosen created_at (microseconds kept): returns their ids. */
    const insert = async (owner: string, createdAt: string, n = 1, extra: { status?: string; id?: string } = {}) => {
      const rows = await db.query<{ id: string }>(
        `insert into render_jobs (id, owner, request, status, created_at)
         select coalesce($4::uuid, gen_random_uuid()), $1, jsonb_build_object('title', 'r' || g), $3, $2::timestamptz
           from generate_series(1, $5::int) g
         returning id`,
        [owner, createdAt, extra.status ?? "queued", extra.id ?? null, n],
      );
      return rows.map((r) => r.id);
    };
    /** T0 plus `micros` microseconds (negative: before it), as UTC text to the microsecond. */
    const at = (micros: number) => {
      const ms = Math.floor(micros / 1000);
      return new Date(Date.parse(T0) + ms).toISOString().replace("Z", `${String(micros - ms * 1000).padStart(3, "0")}Z`);
    };

    /** Every page of `query` for `token`, calling `between` after each page that has a next one. */
    const walk = async (query: string, token = "tok-alice", between?: (page: Page, n: number) => Promise<void>) => {
      const pages: Page[] = [];
      let cursor: string | null = null;
      do {
        const sep = query ? "&" : "";
        const r = await get(`/v1/renders?${query}${cursor ? `${sep}cursor=${cursor}` : ""}`, token);
        assert.equal(r.status, 200, JSON.stringify(r.body));
        assert.ok(validRenderList(r.body), JSON.stringify(validRenderList.errors));
        const page = r.body as Page;
        assert.equal(page.has_more, page.next_cursor !== null, "next_cursor is set exactly when has_more");
        pages.push(page);
        cursor = page.next_cursor;
        if (cursor && between) await between(page, pages.length);
      } while (cursor);
      return { pages, ids: pages.flatMap((p) => p.data.map((d) => d.id)) };
    };
    /** The ids in the list's order (created_at desc, id desc), as the database sorts them. */
    const ordered = async (ids: string[]) =>
      (await db.query<{ id: string }>(`select id from render_jobs where id = any($1::uuid[]) order by created_at desc, id desc`, [ids])).map((r) => r.id);

    test("the render statuses the query accepts are the contract's", () => {
      assert.deepEqual([...RENDER_STATUSES], schema("Render").properties.status.enum);
    });

    test("pages walk every render exactly once, newest first, with ties on created_at down to the microsecond", async () => {
      // Groups that share a created_at, some a microsecond apart (a millisecond cursor would
      // skip or repeat them), and bob's renders at the very same instants.
      const mine = [
        ...(await insert("alice", at(0), 5)), ...(await insert("alice", at(1), 3)), ...(await insert("alice", at(2), 1)),
        ...(await insert("alice", at(1000), 4)), ...(await insert("alice", at(5_000_000), 2)),
      ];
      await insert("bob", at(0), 3);
      await insert("bob", at(1), 2);
      const expected = await ordered(mine);
      for (const limit of [1, 2, 4, 7, 100]) {
        const { pages, ids } = await walk(`limit=${limit}`);
        assert.deepEqual(ids, expected, `limit=${limit}`);
        assert.equal(pages.length, Math.max(1, Math.ceil(expected.length / limit)), `limit=${limit}: full pages until the last`);
        assert.ok(pages.slice(0, -1).every((p) => p.data.length === limit));
      }
    });

    test("renders created between pages: newer ones are not seen, ones after the position are seen once", async () => {
      const first = [...(await insert("carol", at(10), 4)), ...(await insert("carol", at(11), 4)), ...(await insert("carol", at(12), 4))];
      const later: string[] = []; // inserted after the current position: must be seen
      const newer: string[] = []; // inserted before it: must not be
      const { ids } = await walk("limit=3", "tok-carol", async (page, n) => {
        const last = page.data[page.data.length - 1]!;
        // Newest of all, through the API (created now).
        const posted = await fetch(`${base}/v1/renders`, { method: "POST", headers: { authorization: "Bearer tok-carol", "content-type": "application/json" }, body: JSON.stringify(GOOD) });
        newer.push(((await posted.json()) as { id: string }).id);
        // At the position's very created_at: the id alone decides which side it falls on.
        const [row] = await db.query<{ created: string }>(
          `select to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as created from render_jobs where id = $1`, [last.id]);
        const low = `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`;
        const high = `ffffffff-ffff-4fff-bfff-${String(n).padStart(12, "0")}`;
        if (low < last.id) later.push(...(await insert("carol", row!.created, 1, { id: low })));
        if (high > last.id) newer.push(...(await insert("carol", row!.created, 1, { id: high })));
        later.push(...(await insert("carol", at(-n), 1))); // older than everything
      });
      assert.equal(new Set(ids).size, ids.length, "no render twice");
      assert.deepEqual(ids, await ordered(ids), "newest first throughout");
      for (const id of [...first, ...later]) assert.ok(ids.includes(id), `${id} was listed`);
      for (const id of newer) assert.ok(!ids.includes(id), `${id} (before the position) was not listed`);
      assert.ok(later.length >= 4 && newer.length >= 4);
    });

    test("another owner's renders never appear, whatever the cursor", async () => {
      const bobs = await ordered((await db.query<{ id: string }>(`select id from render_jobs where owner = 'bob'`)).map((r) => r.id));
      assert.deepEqual((await walk("limit=2", "tok-bob")).ids, bobs);
      const alices = new Set((await db.query<{ id: string }>(`select id from render_jobs where owner = 'alice'`)).map((r) => r.id));
      // Alice's cursor in bob's hands is only a position: he still sees only his own.
      const page = (await get("/v1/renders?limit=3")).body as Page;
      const r = await get(`/v1/renders?cursor=${page.next_cursor}`, "tok-bob");
      assert.equal(r.status, 200);
      assert.ok((r.body as Page).data.every((d) => !alices.has(d.id) && d.owner === "bob"));
      const everything = await get("/v1/renders?limit=100", "tok-erin");
      assert.deepEqual([everything.body.data, everything.body.has_more, everything.body.next_cursor], [[], false, null], "no renders: an empty last page");
    });

    test("status filters one or more statuses, and pages through the filtered list", async () => {
      const byStatus: Record<string, string[]> = {};
      for (const [i, status] of ["queued", "running", "succeeded", "failed", "dead", "cancelled"].entries()) {
        byStatus[status] = await insert("dave", at(100 + i), 3, { status });
      }
      const one = await walk("status=failed&limit=2", "tok-dave");
      assert.deepEqual(one.ids, await ordered(byStatus.failed!));
      const two = await ordered([...byStatus.queued!, ...byStatus.running!]);
      assert.deepEqual((await walk("status=queued,running&limit=2", "tok-dave")).ids, two);
      assert.deepEqual((await walk("status=running&status=queued&limit=4", "tok-dave")).ids, two, "repeated status works too");
      assert.deepEqual((await walk("status=dead,dead", "tok-dave")).ids, await ordered(byStatus.dead!));
      assert.equal((await walk("", "tok-dave")).ids.length, 18);
    });

    test("items are render summaries: no request, no steps, the title; 20 by default", async () => {
      const posted: string[] = [];
      for (let i = 0; i < 21; i++) {
        const r = await fetch(`${base}/v1/renders`, { method: "POST", headers: { authorization: "Bearer tok-erin", "content-type": "application/json" }, body: JSON.stringify({ ...GOOD, title: `t${i}` }) });
        posted.push(((await r.json()) as { id: string }).id);
      }
      const r = await get("/v1/renders", "tok-erin");
      assert.equal(r.body.data.length, 20);
      assert.equal(r.body.has_more, true);
      const item = r.body.data[0];
      assert.equal(item.id, posted[20], "the newest first");
      assert.equal(item.title, "t20");
      assert.equal(item.request, undefined);
      assert.equal(item.steps, undefined);
      assert.deepEqual([item.status, item.attempts, item.next_attempt_at, item.last_error, item.error], ["queued", 0, null, null, null]);
      const one = await get(`/v1/renders/${item.id}`, "tok-erin");
      assert.ok(validRender(one.body), JSON.stringify(validRender.errors));
      const { request: _r, steps: _s, ...summary } = one.body as Record<string, unknown>;
      assert.deepEqual(item, summary, "a list item is the render without request and steps");
    });

    test("a succeeded render's video URL is signed afresh in the list too", async () => {
      const [id] = await insert("alice", at(-1_000_000), 1, { status: "succeeded" });
      const key = `renders/alice/${id}.mp4`;
      const video = { key, sha256: "b".repeat(64), size: 1, content_type: "video/mp4", url: "http://expired.test/old" };
      await db.query(`update render_jobs set result = $2::jsonb where id = $1`, [id, JSON.stringify({ video, source: { ...video, key: KEY }, duration_ms: 1, captions: 0 })]);
      const item = (await walk("status=succeeded&limit=1")).pages.flatMap((p) => p.data).find((d) => d.id === id) as unknown as { result: { video: { url: string } } };
      assert.ok(item.result.video.url.startsWith(`http://compute.test/v1/artifacts/${key}?`), item.result.video.url);
    });

    test("bad queries are 400 invalid_query naming the parameter, never a 500", async () => {
      const cursorOf = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
      const id = "00000000-0000-4000-8000-000000000000";
      const cases: Array<[string, string, string]> = [
        ["limit=0", "limit", "out_of_range"],
        ["limit=101", "limit", "out_of_range"],
        ["limit=abc", "limit", "out_of_range"],
        ["limit=1.5", "limit", "out_of_range"],
        ["limit=-1", "limit", "out_of_range"],
        ["limit=", "limit", "out_of_range"],
        ["limit=1e2", "limit", "out_of_range"],
        ["limit=1&limit=2", "limit", "repeated"],
        ["cursor=", "cursor", "invalid_cursor"],
        ["cursor=not*base64", "cursor", "invalid_cursor"],
        [`cursor=${cursorOf("x")}`, "cursor", "invalid_cursor"],
        [`cursor=${cursorOf(["2026-01-01T00:00:00.000000Z", "nope"])}`, "cursor", "invalid_cursor"],
        [`cursor=${cursorOf(["2026-02-30T00:00:00.000000Z", id])}`, "cursor", "invalid_cursor"],
        [`cursor=${cursorOf(["2026-01-01T24:00:00.000000Z", id])}`, "cursor", "invalid_cursor"],
        [`cursor=${cursorOf(["0000-01-01T00:00:00.000000Z", id])}`, "cursor", "invalid_cursor"],
        [`cursor=${cursorOf(["2026-01-01T00:00:00Z", id])}`, "cursor", "invalid_cursor"],
        [`cursor=${cursorOf(["2026-01-01T00:00:00.000000Z", id, 1])}`, "cursor", "invalid_cursor"],
        [`cursor=${Buffer.from("[\"2026").toString("base64url")}`, "cursor", "invalid_cursor"],
        [`cursor=${"A".repeat(5000)}`, "cursor", "invalid_cursor"],
        ["cursor=a&cursor=b", "cursor", "repeated"],
        ["status=bogus", "status", "invalid_value"],
        ["status=", "status", "invalid_value"],
        ["status=queued,", "status", "invalid_value"],
        ["status=QUEUED", "status", "invalid_value"],
        ["stauts=queued", "stauts", "unknown_parameter"],
      ];
      for (const [query, path, code] of cases) {
        const r = await get(`/v1/renders?${query}`);
        assert.equal(r.status, 400, `${query}: ${JSON.stringify(r.body)}`);
        assert.equal(r.body.error.code, "invalid_query", query);
        assert.equal(r.body.error.retryable, false);
        assert.deepEqual(r.body.error.details.map((d: { path: string; code: string }) => [d.path, d.code]), [[path, code]], query);
      }
      const many = await get("/v1/renders?limit=0&status=x&cursor=y");
      assert.deepEqual(many.body.error.details.map((d: { path: string }) => d.path), ["limit", "cursor", "status"], "every bad parameter is named");
      assert.equal((await get(`/v1/renders?cursor=${encodeCursor({ createdAt: "2026-01-01T00:00:00.000001Z", id })}`)).status, 200, "a well-formed cursor is accepted");
      const anon = await fetch(`${base}/v1/renders?limit=0`);
      assert.equal(anon.status, 401, "authentication comes first");
    });
  });
}
