// Build the Remotion bundle once: `node scripts/bundle.mjs OUT_DIR`.
// The render sidecar serves this directory; the Modal image bakes it in.
import { bundle } from "@remotion/bundler";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const outDir = process.argv[2];
if (!outDir) {
  console.error("usage: node scripts/bundle.mjs OUT_DIR");
  process.exit(2);
}
const started = Date.now();
await bundle({
  entryPoint: path.join(root, "src", "index.ts"),
  outDir: path.resolve(outDir),
  publicDir: path.join(root, "public"),
  enableCaching: false,
});
console.log(JSON.stringify({ outDir: path.resolve(outDir), seconds: (Date.now() - started) / 1000 }));
