// The Explainer's zod schema for other tools (tests/render/test_schema_parity.py):
//   node scripts/schema.mjs json-schema        -> z.toJSONSchema(explainerSchema)
//   node scripts/schema.mjs validate < cases   -> [{ok, data|issues}] for a JSON array of props
import { build } from "esbuild";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const out = await build({
  entryPoints: [path.join(root, "src", "Explainer", "schema.ts")],
  bundle: true,
  format: "esm",
  platform: "node",
  write: false,
  logLevel: "error",
});
const mod = await import("data:text/javascript;base64," + Buffer.from(out.outputFiles[0].text).toString("base64"));
const schema = mod.explainerSchema;

const readStdin = async () => {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  return Buffer.concat(chunks).toString("utf8");
};

const command = process.argv[2];
if (command === "json-schema") {
  process.stdout.write(JSON.stringify(z.toJSONSchema(schema, { io: "input" })));
} else if (command === "validate") {
  const cases = JSON.parse(await readStdin());
  const results = cases.map((props) => {
    const r = schema.safeParse(props);
    return r.success ? { ok: true, data: r.data } : { ok: false, issues: r.error.issues.map((i) => i.path.join(".")) };
  });
  process.stdout.write(JSON.stringify(results));
} else {
  console.error("usage: node scripts/schema.mjs json-schema|validate");
  process.exit(2);
}
