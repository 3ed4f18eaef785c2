// Builds the console into dist/: app.js (src/main.ts and the TypeScript
// client it imports, bundled and minified), app.css, index.html and
// favicon.svg. dist/ is committed and embedded by the server, so the
// output must be reproducible: no timestamps, hashes, source maps or
// absolute paths, and two runs write byte-identical files (CI rebuilds
// and fails on a diff).
//
//     npm run build

import { build } from "esbuild";
import { copyFile, mkdir, readFile, readdir, rm } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const DIST = path.join(HERE, "dist");
/** First load (every file of dist/, gzipped) must stay under this. */
const BUDGET = 150 * 1024;

await rm(DIST, { recursive: true, force: true });
await mkdir(DIST, { recursive: true });

const common = {
  absWorkingDir: HERE,
  bundle: true,
  minify: true,
  sourcemap: false,
  legalComments: "none",
  charset: "utf8",
  logLevel: "warning",
};

await build({
  ...common,
  entryPoints: ["src/main.ts"],
  outfile: "dist/app.js",
  format: "esm",
  platform: "browser",
  target: "es2020",
  // The client's bare imports (@bufbuild/protobuf, @connectrpc/*) resolve
  // from clients/typescript/node_modules: one copy, the client's versions.
});

await build({
  ...common,
  entryPoints: ["src/style.css"],
  outfile: "dist/app.css",
  // The logo in the header: inlined (the CSP allows data: images).
  loader: { ".svg": "dataurl" },
  target: ["chrome100", "firefox100", "safari15"],
});

for (const file of ["index.html", "favicon.svg"]) {
  await copyFile(path.join(HERE, file), path.join(DIST, file));
}

let raw = 0;
let gzipped = 0;
const rows = [];
for (const name of (await readdir(DIST)).sort()) {
  const data = await readFile(path.join(DIST, name));
  const gz = gzipSync(data, { level: 9 }).length;
  raw += data.length;
  gzipped += gz;
  rows.push(`  ${name.padEnd(12)} ${kib(data.length).padStart(10)} ${kib(gz).padStart(10)} gzipped`);
}
console.log(`console/dist:\n${rows.join("\n")}\n  ${"total".padEnd(12)} ${kib(raw).padStart(10)} ${kib(gzipped).padStart(10)} gzipped (budget ${kib(BUDGET)})`);
if (gzipped > BUDGET) {
  console.error(`the console's first load is ${kib(gzipped)} gzipped, over the ${kib(BUDGET)} budget`);
  process.exit(1);
}

function kib(bytes) {
  return `${(bytes / 1024).toFixed(1)} KiB`;
}
