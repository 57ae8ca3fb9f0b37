/**
 * The storage helper's fake Supabase Storage server (tests/storage/fake_supabase_storage.py:
 * the Storage REST wire protocol, errors as HTTP 400 with the true status in the body) in a
 * Python child process, for tests that drive the real supabase-js client against it.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { createInterface } from "node:readline";
import { PYTHON, REPO } from "./computeServer.ts";

const LAUNCH = `
import json, sys
sys.path.insert(0, ${JSON.stringify(REPO + "/tests/storage")})
from fake_supabase_storage import FakeSupabaseStorage
fake = FakeSupabaseStorage().__enter__()
print(json.dumps({"url": fake.url, "key": fake.service_key}), flush=True)
sys.stdin.read()
`;

export class FakeSupabaseStorage {
  url = "";
  /** The service-role key it accepts. */
  key = "";
  private proc: ChildProcess | null = null;

  async start(): Promise<void> {
    const proc = spawn(PYTHON, ["-c", LAUNCH], { stdio: ["pipe", "pipe", "inherit"] });
    this.proc = proc;
    const info = await new Promise<{ url: string; key: string }>((resolve, reject) => {
      createInterface({ input: proc.stdout! }).once("line", (line) => resolve(JSON.parse(line)));
      proc.once("exit", (c) => reject(new Error(`fake storage exited ${c}`)));
    });
    ({ url: this.url, key: this.key } = info);
  }

  stop(): void {
    this.proc?.stdin?.end();
    this.proc?.kill();
    this.proc = null;
  }

  /** Puts `bytes` at `bucket/path`, as the artifact store (supabase-py) does: multipart, a "file" part, upsert. */
  async put(bucket: string, path: string, bytes: Buffer, type = "video/mp4"): Promise<void> {
    const form = new FormData();
    form.append("file", new Blob([bytes], { type }), path.split("/").pop()!);
    const res = await fetch(`${this.url}/storage/v1/object/${bucket}/${path}`, {
      method: "POST", headers: { authorization: `Bearer ${this.key}`, apikey: this.key, "x-upsert": "true" }, body: form,
    });
    assert.equal(res.status, 200, await res.text());
  }

  /** Uploads an artifact under its content address: its ref. */
  async upload(bytes: Buffer, ext = "mp4", type = "video/mp4"): Promise<{ key: string; sha256: string; size: number; content_type: string }> {
    const sha = createHash("sha256").update(bytes).digest("hex");
    await this.put("artifacts", `sha256/${sha.slice(0, 2)}/${sha}.${ext}`, bytes, type);
    return { key: `artifacts/sha256/${sha.slice(0, 2)}/${sha}.${ext}`, sha256: sha, size: bytes.length, content_type: type };
  }
}

/** A fetch that records each request ("METHOD /path") before passing it on (to supabase-js's `global.fetch`). */
export function recordingFetch(): { fetch: typeof fetch; calls: string[] } {
  const calls: string[] = [];
  const f = (async (input: string | URL | Request, init?: RequestInit) => {
    const u = new URL(input instanceof Request ? input.url : String(input));
    calls.push(`${init?.method ?? (input instanceof Request ? input.method : "GET")} ${u.pathname}`);
    return fetch(input, init);
  }) as typeof fetch;
  return { fetch: f, calls };
}
