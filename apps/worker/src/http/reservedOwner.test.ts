/** The owner name the compute plane's image cache files live under is no token's owner. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseTokens } from "./auth.ts";
import { loadConfig } from "../config.ts";

test("a WORKER_TOKENS owner named image-cache is refused: renders/image-cache/ holds the image cache's index", () => {
  assert.throws(() => parseTokens("t1:alice,t2:image-cache"), /image-cache.*reserved/);
  assert.throws(() => loadConfig({ WORKER_TOKENS: "t2:image-cache" }), /WORKER_TOKENS/);
  assert.equal(parseTokens("t1:alice,t3:image-cache2").get("t3"), "image-cache2");
});
