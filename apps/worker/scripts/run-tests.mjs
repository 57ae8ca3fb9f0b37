// `npm test`: find every *.test.ts (src/, tests/e2e/) and run them with node's test runner
// (Node 20's runner takes no globs). Extra args pass through, e.g. `npm test -- --test-name-pattern=RLS`.
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";

const roots = ["src", "../../tests/e2e"];
const files = [];
function walk(dir) {
  for (const name of readdirSync(dir)) {
    if (name === "node_modules") continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith(".test.ts")) files.push(p);
  }
}
for (const r of roots) walk(r);
files.sort();
const only = process.argv.slice(2).filter((a) => !a.startsWith("--"));
const flags = process.argv.slice(2).filter((a) => a.startsWith("--"));
const selected = only.length ? files.filter((f) => only.some((o) => f.includes(o))) : files;
console.log(`running ${selected.length} test files: ${selected.map((f) => relative(".", f)).join(" ")}`);
const r = spawnSync(process.execPath, ["--import", "tsx", "--test", "--test-concurrency=2", "--test-reporter=spec", ...flags, ...selected], { stdio: "inherit" });
process.exit(r.status ?? 1);
