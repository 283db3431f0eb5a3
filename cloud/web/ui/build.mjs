// Bundles the dashboard into ../dist (embedded in streamforge-cloud by
// go:embed). The output depends only on the sources and the pinned
// packages, so a rebuild is byte-identical (TestBundleIsFresh checks it).
import * as esbuild from "esbuild";
import { copyFileSync, mkdirSync } from "node:fs";

const out = process.argv[2] || "../dist";
mkdirSync(out, { recursive: true });
await esbuild.build({
  entryPoints: { app: "src/main.js" },
  bundle: true, minify: true, format: "iife", target: "es2020",
  outdir: out, legalComments: "none", logLevel: "warning",
});
copyFileSync("src/index.html", out + "/index.html");
