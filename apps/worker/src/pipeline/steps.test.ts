import assert from "node:assert/strict";
import { test } from "node:test";
import type { RenderRequest } from "../contract.ts";
import { alignInput } from "./steps.ts";

const req = { scenes: [{ narration: "Hello there." }, { narration: "Bye." }], narration_audio: "artifacts/sha256/aa/n.wav" } as RenderRequest;

test("the align step sends the worker's ALIGN_MODEL, and leaves the compute default otherwise", () => {
  assert.equal(alignInput(req, "large-v3").model, "large-v3");
  assert.equal("model" in alignInput(req), false);
  assert.equal(alignInput(req).audio, "artifacts/sha256/aa/n.wav");
  assert.equal(alignInput(req).language, "en");
});
