// Builds the console into local/drwave_local/server/console_dist (committed): one minified script, the page, the styles.
// Deterministic: same sources and lockfile, same bytes. `node build.mjs OUTDIR` builds elsewhere (the drift check).
import { build } from "esbuild";
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = resolve(process.argv[2] ?? join(here, "..", "local", "drwave_local", "server", "console_dist"));
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [join(here, "src", "main.ts")],
  bundle: true,
  minify: true,
  format: "iife",
  target: "es2022",
  legalComments: "none",
  outfile: join(out, "app.js"),
  logLevel: "warning",
});
for (const file of ["index.html", "app.css"]) copyFileSync(join(here, "static", file), join(out, file));
console.log(`built the console into ${out}`);
