import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { ComputeClient } from "../client/modal-client.ts";
import { migrate } from "../db/migrate.ts";
import { openPglite } from "../db/pglite.ts";
import type { Db } from "../db/db.ts";
import { Metrics } from "../metrics.ts";
import { Router } from "../router/index.ts";
import { parseTokens } from "./auth.ts";
import { buildApi } from "./server.ts";
import { validateRenderRequest, ValidationError } from "./validate.ts";

const KEY = "artifacts/sha256/aa/" + "a".repeat(64) + ".wav";
const GOOD = { narration_audio: KEY, scenes: [{ narration: "Hello there.", image_prompt: "a hello" }] };
const schema = (name: string) => JSON.parse(readFileSync(new URL(`../../../../packages/shared-types/schema/${name}.json`, import.meta.url), "utf8"));

type Reply = { error: { code: string; details?: Array<{ path: string; code: string }> } };

describe("POST /v1/renders refuses up front what would leak another owner's render or fail mid-render", () => {
  let db: Db;
  let base: string;
  let app: ReturnType<typeof buildApi>;
  before(async () => {
    db = await openPglite();
    await migrate(db);
    const router = new Router({ inhouse: new ComputeClient({ name: "inhouse", baseUrl: "http://127.0.0.1:9" }) });
    app = buildApi({ db, router, metrics: new Metrics(), log: (await import("../log.ts")).log, tokens: parseTokens("tok-alice:alice,tok-bob:bob") });
    base = await app.listen({ host: "127.0.0.1", port: 0 });
  });
  after(async () => {
    await app.close();
    await db.close();
  });

  const post = async (body: unknown, token = "tok-alice") => {
    const r = await fetch(`${base}/v1/renders`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify(body) });
    return { status: r.status, body: (await r.json()) as Reply };
  };
  const refused = (r: { status: number; body: Reply }) =>
    [r.status, r.body.error?.code, (r.body.error?.details ?? []).map((d) => `${d.code} ${d.path}`)];

  test("another owner's published render is refused as narration, music or a scene image; the caller's own is accepted", async () => {
    // Bob's render key is in every URL Bob shares; the compute plane reads renders/ keys from the
    // store directly (no signature, no expiry), so this handed Alice Bob's video, audio and transcript.
    const bobs = "renders/bob/3f1c9d2e-7a6b-4c1d-9e8f-0a1b2c3d4e5f.mp4";
    for (const [body, path] of [
      [{ ...GOOD, narration_audio: bobs }, "/narration_audio"],
      [{ ...GOOD, music: bobs }, "/music"],
      [{ ...GOOD, scenes: [{ narration: "Hello there.", image: "renders/bob/r1.png" }] }, "/scenes/0/image"],
    ] as const) {
      assert.deepEqual(refused(await post(body)), [400, "foreign_reference", [`foreign_reference ${path}`]], JSON.stringify(body));
    }
    // A key that only starts like the caller's owner is still another owner's.
    assert.equal((await post({ ...GOOD, music: "renders/alice2/r1.mp3" })).body.error.code, "foreign_reference");
    const own = "renders/alice/3f1c9d2e-7a6b-4c1d-9e8f-0a1b2c3d4e5f.mp4";
    const ok = await post({ ...GOOD, narration_audio: own, music: "renders/alice/r0.mp3", scenes: [{ narration: "Hello there.", image: "renders/alice/r2.png" }] });
    assert.equal(ok.status, 202, JSON.stringify(ok.body));
    // And Bob may use his own.
    assert.equal((await post({ ...GOOD, narration_audio: bobs }, "tok-bob")).status, 202);
  });

  test("without an owner to check against (no caller), no renders/ key is accepted", () => {
    assert.throws(() => validateRenderRequest({ ...GOOD, narration_audio: "renders/alice/r1.mp4" }), (e: unknown) => e instanceof ValidationError && e.code === "foreign_reference");
    assert.equal(validateRenderRequest({ ...GOOD, narration_audio: "renders/alice/r1.mp4" }, "alice").narration_audio, "renders/alice/r1.mp4");
  });

  test("more image prompts than one images request takes are a 400 too_many, not a failed images step", async () => {
    const maxPrompts: number = schema("GenerateImagesRequest").properties.prompts.maxItems;
    const maxScenes: number = schema("RenderRequest").properties.scenes.maxItems;
    assert.ok(maxPrompts < maxScenes, "the bound this guards is still there");
    const scenes = (prompts: number, images: number) => [
      ...Array.from({ length: prompts }, (_, i) => ({ narration: `Scene ${i}.`, image_prompt: `picture ${i}` })),
      ...Array.from({ length: images }, (_, i) => ({ narration: `Still ${i}.`, image: "https://example.com/i.png" })),
    ];
    assert.deepEqual(refused(await post({ ...GOOD, scenes: scenes(maxPrompts + 1, 0) })), [400, "too_many", ["too_many /scenes"]]);
    assert.equal((await post({ ...GOOD, scenes: scenes(maxPrompts, maxScenes - maxPrompts) })).status, 202, "at the bound, the other scenes with images");
  });

  test("a whitespace-only image_prompt or style.avoid item is a 400 too_short, as the compute plane strips them", async () => {
    for (const blank of ["   ", "\t\n", "\u3000", "\u0085", "\u00a0\u2028", "\u2000\u200a\u202f\u205f\u1680"]) {
      assert.deepEqual(refused(await post({ ...GOOD, scenes: [{ narration: "Hello there.", image_prompt: blank }] })), [400, "too_short", ["too_short /scenes/0/image_prompt"]], JSON.stringify(blank));
      assert.deepEqual(refused(await post({ ...GOOD, style: { avoid: ["text", blank] } })), [400, "too_short", ["too_short /style/avoid/1"]], JSON.stringify(blank));
    }
    // What the compute plane keeps after stripping (pydantic strips Unicode White_Space, which
    // U+001C..U+001F and U+FEFF are not) is a prompt it takes: not refused here either.
    for (const kept of ["  a hello  ", "\u001c", "\ufeff"]) {
      assert.equal((await post({ ...GOOD, scenes: [{ narration: "Hello there.", image_prompt: kept }], style: { avoid: [kept] } })).status, 202, JSON.stringify(kept));
    }
  });
});
